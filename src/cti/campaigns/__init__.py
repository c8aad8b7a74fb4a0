"""Telephone survey campaigns (issue 21): the IVR calls citizens and asks a questionnaire."""
