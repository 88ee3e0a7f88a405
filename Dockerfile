# IOS Explorer's web app on a CUDA-capable image.
#   docker build -t ios-explorer .
#   docker run --gpus all -p 8501:8501 ios-explorer        # live GPU profiling
#   docker run -p 8501:8501 ios-explorer                   # no GPU: shipped profiles / simulated
# Debian base: its graphviz package gives `dot` (the app draws without it, but exports render
# with it). CUDA itself comes with torch's wheels (nvidia-* pip packages); the host only needs
# the NVIDIA driver and the container toolkit.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# requirements.txt pins torch==2.13.0, which from PyPI is a CPU-only build on some platforms.
# Install the CUDA build of that same version first, from PyTorch's index: "2.13.0+cu130"
# satisfies the pin (a local version label matches ==2.13.0), so the next step keeps it.
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu130
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"

# The package with its app extra (ios_core with the shipped profiles, sample_models, the app),
# installed like any user's: the sources are not needed after it.
COPY requirements.txt pyproject.toml README.md ./
COPY ios_core ./ios_core
COPY sample_models ./sample_models
COPY app ./app
RUN pip install -r requirements.txt ".[app]" && rm -rf /app/*

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"
CMD ["ios-explorer", "app", "--server.port", "8501", "--server.address", "0.0.0.0", \
     "--server.headless", "true"]
