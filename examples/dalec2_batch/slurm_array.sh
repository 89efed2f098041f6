#!/bin/bash
# A batch as a Slurm job array: task I of N runs every N-th site from the I-th
# (pdaframe run --task I/N, 1-based), each site in its own folder; then one merge.
#
#   sbatch examples/dalec2_batch/slurm_array.sh          # the array (8 tasks)
#   sbatch --dependency=afterany:<array job id> --wrap \
#       ".venv/bin/pdaframe merge results/dalec2_batch"  # batch.nc after the array
#
# A task that is killed (time limit, node failure) leaves no half-written site: resubmit the
# array (or just that task: sbatch --array=3 ...) and it runs only the unfinished sites.
# Tasks of one array may write into the same output folder at once; a second full run or a
# task of an array with another N is refused while they run (.locks/ in the output folder).
# Each task can itself use MPI ranks: set --ntasks and launch with srun/mpiexec -n.
#SBATCH --job-name=dalec2-batch
#SBATCH --array=1-8
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=1G
#SBATCH --time=00:30:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
export OMP_NUM_THREADS=1                       # one site per core
.venv/bin/pdaframe run examples/dalec2_batch/config.toml -q \
    --task "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
