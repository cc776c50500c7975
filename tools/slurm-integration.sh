#!/bin/bash
# Slurm integration test for digit-bench scale-out (issue #13).
#
# Starts a single-node Slurm cluster on this machine (Debian slurm-wlm + munge; daemons bound to
# 127.0.0.1 only, state in a temporary directory), submits a 4-task `digit-bench stats` job array
# with the script `digit-bench slurm` prints (seeded Inception weights, the 4 bundled sample images,
# so every task holds one image), waits for the dependent merge job, and checks that the merged
# statistics are byte-identical to an unsharded run. Stops the daemons it started on exit.
#
# Usage (as root, from the repository root, after `swift build -c release`):
#   tools/slurm-integration.sh [path/to/digit-bench]
# Environment: SLURM_TEST_KEEP=1 keeps the temporary directory; SLURM_TEST_NO_APT=1 skips apt-get.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$REPO/.build/release/digit-bench}
BIN=$(readlink -f "$BIN")
SAMPLES=$REPO/Resources/samples
[ -x "$BIN" ] || { echo "no digit-bench binary at $BIN (swift build -c release first)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (starts munged/slurmctld/slurmd)" >&2; exit 2; }

if [ -z "${SLURM_TEST_NO_APT:-}" ] && ! { command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

WORK=$(mktemp -d /tmp/digit-bench-slurm.XXXXXX)
export SLURM_CONF=$WORK/slurm.conf
MUNGE_SOCKET=$WORK/munge/munge.socket
STARTED_MUNGE=""
cleanup() {
    set +e
    if [ -f "$WORK/slurmctld.pid" ] || [ -f "$WORK/slurmd.pid" ]; then
        scontrol shutdown >/dev/null 2>&1
        sleep 1
    fi
    for f in slurmd slurmctld; do
        [ -f "$WORK/$f.pid" ] && kill "$(cat "$WORK/$f.pid")" 2>/dev/null
    done
    [ -n "$STARTED_MUNGE" ] && [ -f "$WORK/munged.pid" ] && kill "$(cat "$WORK/munged.pid")" 2>/dev/null
    if [ -z "${SLURM_TEST_KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

# munge: its own key and socket in $WORK (does not touch a system munged).
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool" "$WORK/out" "$WORK/logs"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$WORK/munge"
chmod 700 "$WORK/munge"
chmod 400 "$WORK/munge/munge.key"
chmod 755 "$WORK"
runuser -u munge -- /usr/sbin/munged --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/munged.seed" --force
ln -sf "$WORK/munge/munged.pid" "$WORK/munged.pid"
STARTED_MUNGE=1

CPUS=$(nproc)
cat >"$SLURM_CONF" <<EOF
ClusterName=digitbench
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

T0=$(date +%s)
/usr/sbin/slurmctld -f "$SLURM_CONF" -i
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 60); do
    sinfo -h -o %t 2>/dev/null | grep -q idle && break
    sleep 1
done
sinfo -h -o %t | grep -q idle || { echo "node did not come up"; tail -20 "$WORK/slurmctld.log" "$WORK/slurmd.log"; exit 1; }
echo "slurm up on 127.0.0.1 ($(sinfo -h -o '%P %D %c %t')) after $(($(date +%s) - T0)) s"
if command -v ss >/dev/null 2>&1; then
    LISTEN=$(ss -Hltn 'sport = :16817 or sport = :16818' | awk '{print $4}' | sort -u | tr '\n' ' ')
    echo "slurm listening on: $LISTEN"
    if echo "$LISTEN" | tr ' ' '\n' | grep -v '^$' | grep -qv '^127\.0\.0\.1:'; then
        echo "FAIL: a slurm daemon listens beyond 127.0.0.1"; exit 1
    fi
fi

# The array + merge script, as users get it.
cd "$WORK/out"
"$BIN" slurm --array 4 --cpus 1 --time 0:10:00 --log-dir "$WORK/logs" --binary "$BIN" \
    -- stats "$SAMPLES" -o "$WORK/out/merged.npz" --weights seeded --protocol pytorch-fid --quiet >"$WORK/submit.sh"
SUBMIT=$(bash "$WORK/submit.sh")
echo "$SUBMIT"
MERGE_JOB=$(echo "$SUBMIT" | sed -n 's/.*merge job \([0-9]*\).*/\1/p')
for _ in $(seq 300); do
    [ -z "$(squeue -h -j "$MERGE_JOB" 2>/dev/null)" ] && [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 1
done
echo "jobs done after $(($(date +%s) - T0)) s"
[ -f "$WORK/out/merged.npz" ] || { echo "FAIL: no merged.npz"; tail -n 30 "$WORK"/logs/*; exit 1; }
grep -h "shard .* from Slurm job array" "$WORK"/logs/* | sort

# Unsharded run, no scheduler environment.
env -u SLURM_CONF "$BIN" stats "$SAMPLES" -o "$WORK/out/whole.npz" --weights seeded --protocol pytorch-fid --quiet --no-env-shard >/dev/null

python3 - "$WORK/out/whole.npz" "$WORK/out/merged.npz" <<'EOF'
import sys, zipfile
a, b = (zipfile.ZipFile(p) for p in sys.argv[1:3])
for key in ["mu.npy", "sigma.npy", "count.npy"]:
    if a.read(key) != b.read(key):
        sys.exit(f"FAIL: {key} differs between the unsharded and the merged statistics")
print("merged mu, sigma, count are byte-identical to the unsharded run")
EOF
if cmp -s "$WORK/out/whole.npz" "$WORK/out/merged.npz"; then echo "(the whole .npz files are byte-identical too)"; fi
echo "PASS in $(($(date +%s) - T0)) s"
