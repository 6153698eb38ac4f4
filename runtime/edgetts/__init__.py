"""edgetts: autoregressive Chinese text-to-speech on edge devices with ONNX Runtime.

The runtime imports numpy, onnxruntime and the front-end libraries only, never torch, and keeps
to Python 3.8 syntax so that it runs on a Jetson Nano (JetPack 4.6).
"""

__version__ = "0.1.0"
