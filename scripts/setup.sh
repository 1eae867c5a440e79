# Sourced by pipeline.sh and test.sh: sets PYTHON to an interpreter that has what the project
# needs. It uses the current one when it already has torch, numpy, tqdm and tensorboard (Colab,
# a GPU machine, your own environment); otherwise it builds .venv here and installs into it.
# Set SETUP_EXTRA to a requirements file to install too (the tests' requirements-dev.txt).
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
check="import torch, numpy, tqdm, tensorboard"
[ -n "${SETUP_EXTRA:-}" ] && check="$check, pytest, hypothesis, nbclient, ipykernel"
if ! "$PYTHON" -c "$check" 2>/dev/null; then
  echo "setting up .venv (once)..."
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PYTHON=.venv/bin/python
  "$PYTHON" -m pip install -q --upgrade pip
  # torch first, pinned: a bare 'torch' would pull a multi-GB CUDA build on Linux
  "$PYTHON" -c "import torch" 2>/dev/null || "$PYTHON" -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
  "$PYTHON" -m pip install -q -r requirements.txt ${SETUP_EXTRA:+-r "$SETUP_EXTRA"}
fi
export PYTHON
