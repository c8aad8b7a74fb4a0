-- Organisations' units (issue 22): a unit is an organisation whose code extends its
-- organisation's with a dot (asa.plovdiv is a unit of asa; asa.plovdiv.north of both).
-- A user of an organisation sees its units' cases too; a unit's user only the unit's.
-- One definition for every query that keeps to a user's organisations.
CREATE FUNCTION cti_within(organisation text, organisations text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT organisation = ANY(organisations) OR EXISTS (
        SELECT 1 FROM unnest(organisations) AS o
        WHERE left(organisation, length(o) + 1) = o || '.'
    )
$$;
