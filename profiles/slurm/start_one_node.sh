#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine from Debian's slurm-wlm and munge (no systemd):
# munged, slurmctld and slurmd on this host, every core and most of the memory in partition "main".
#   sudo apt-get install slurm-wlm munge    # then, as root:
#   bash profiles/slurm/start_one_node.sh   # idempotent; `bash profiles/slurm/start_one_node.sh stop` stops it
# No accounting daemon: `sacct` does not work, so the profile polls job states with squeue, and MinJobAge
# keeps finished jobs visible to squeue for 300 s.
set -euo pipefail

conf=/etc/slurm/slurm.conf
host=$(hostname -s)
if [[ "${1:-}" == "stop" ]]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    exit 0
fi
for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found; install slurm-wlm and munge" >&2; exit 1; }
done

# munge: a key, then the daemon as its own user
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

cpus=$(nproc)
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > "$conf" <<CONF
ClusterName=braggsynth
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MinJobAge=300
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc"; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "error: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
exit 1
