"""The engine: a voice bundle loaded into ONNX Runtime sessions, and the one path from
utterances to audio (encode, decode a batch of clauses, vocode in a pipeline)."""
