#!/usr/bin/env bash
# Installs the reference ("peer") tools `digit-bench bench peers` compares against, on this machine
# kind (Debian 12, x86_64), from Debian and PyPI only:
#   Debian: python3-torch (1.13 CPU), python3-torchvision (pytorch-fid and torch-fidelity import it),
#           python3-venv
#   venv (--system-site-packages, so Debian's torch and numpy 1.24 are seen) with pinned pip packages:
#           pytorch-fid, torch-fidelity, scipy, faiss-cpu, scikit-learn, Pillow (+ their small deps)
# No model weights are downloaded: the bench builds every torch model on seeded weights.
#
# Idempotent: skips what is already there; prints what it installed. Then prints the --python path.
#
#   tools/bench-peers.sh                 # venv at $DIGIT_BENCH_PEERS_VENV or ~/.cache/digit-bench/peers-venv
#   tools/bench-peers.sh --check         # only report what is missing (exit 1 if anything is)
set -euo pipefail

VENV="${DIGIT_BENCH_PEERS_VENV:-$HOME/.cache/digit-bench/peers-venv}"
SYSPY=/usr/bin/python3   # Debian's python: python3-torch is built for it
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

# Pins that install together with Debian's numpy 1.24 / torch 1.13 (pip index versions NAME).
# --no-deps everywhere: nothing may pull a PyPI torch, torchvision or numpy 2 into the venv.
PIP_PINS=(
  "scipy==1.11.4"
  "faiss-cpu==1.7.4"          # the version DiGIT's preprocess/cluster_kmeans.py ran
  "scikit-learn==1.3.2" "joblib==1.3.2" "threadpoolctl==3.2.0"
  "Pillow==10.4.0"
  "pytorch-fid==0.3.0"
  "torch-fidelity==0.4.0" "tqdm==4.66.4"
)
APT_PKGS=(python3-torch python3-torchvision python3-venv python3-numpy)

installed=()
missing=()

# --- Debian packages ---------------------------------------------------------------------------
need_apt=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then need_apt+=("$p"); fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ $CHECK = 1 ]; then
    missing+=("${need_apt[@]}")
  else
    SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
    $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    installed+=("${need_apt[@]/#/apt:}")
  fi
fi

# --- venv ----------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  if [ $CHECK = 1 ]; then
    missing+=("venv $VENV")
  else
    mkdir -p "$(dirname "$VENV")"
    "$SYSPY" -m venv --system-site-packages "$VENV"
    installed+=("venv:$VENV")
  fi
fi

# --- pip packages --------------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ]; then
  need_pip=()
  for pin in "${PIP_PINS[@]}"; do
    name="${pin%%==*}"; want="${pin##*==}"
    have="$("$VENV/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p' || true)"
    # A package of the right version seen only through --system-site-packages does not count.
    loc="$("$VENV/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Location: //p' || true)"
    if [ "$have" != "$want" ] || [[ "$loc" != "$VENV"* ]]; then need_pip+=("$pin"); fi
  done
  if [ ${#need_pip[@]} -gt 0 ]; then
    if [ $CHECK = 1 ]; then
      missing+=("${need_pip[@]}")
    else
      "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${need_pip[@]}"
      installed+=("${need_pip[@]/#/pip:}")
    fi
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]}"
  echo "install with: tools/bench-peers.sh"
  exit 1
fi
if [ ${#installed[@]} -gt 0 ]; then
  echo "installed: ${installed[*]}"
else
  echo "nothing to install: all peers present"
fi

# --- report versions -----------------------------------------------------------------------------
"$VENV/bin/python" - <<'EOF'
import importlib
for mod, name in [("torch", "torch"), ("torchvision", "torchvision"), ("numpy", "numpy"), ("scipy", "scipy"),
                  ("faiss", "faiss-cpu"), ("sklearn", "scikit-learn"), ("PIL", "Pillow"),
                  ("pytorch_fid", "pytorch-fid"), ("torch_fidelity", "torch-fidelity")]:
    try:
        m = importlib.import_module(mod)
        print(f"  {name:15s} {getattr(m, '__version__', '?')}")
    except Exception as e:  # noqa: BLE001
        print(f"  {name:15s} NOT IMPORTABLE: {e}")
EOF
echo "use: digit-bench bench peers --python $VENV/bin/python"
