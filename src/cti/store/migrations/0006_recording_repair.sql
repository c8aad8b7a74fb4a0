-- A recording cut by a crash of Asterisk (issue 17): the RIFF and data sizes are written
-- when the file is closed, so they are still 0; the audio is there. It is stored, never
-- refused: `sizes_fixed` when the CTI set the two sizes from the file's length (every
-- other byte as Asterisk wrote it), `sizes_wrong` when the file could not be written and
-- is stored as it is (its duration taken from its length). NULL: the file was whole.
ALTER TABLE recordings
    ADD COLUMN repair text CHECK (repair IN ('sizes_fixed', 'sizes_wrong'));
