"""The front-end: text or SSML → utterances of Baker symbol ids (normalization, polyphones,
script conversion, lexicon, sentence splitting)."""
