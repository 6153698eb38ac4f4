"""PyTorch models of the voice: the student acoustic model and the MB-MelGAN vocoder (imports torch)."""
