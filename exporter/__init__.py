"""The torch side: turns PyTorch models into a voice bundle of ONNX graphs (imports torch)."""
