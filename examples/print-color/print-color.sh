#!/bin/sh
# The container of AWS's print-color tutorial: print the colour chosen by the array index.
# AWS_BATCH_JOB_ARRAY_INDEX is 0-based; sed counts lines from 1.
DIR=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
LINE=$((AWS_BATCH_JOB_ARRAY_INDEX + 1))
COLOR=$(sed -n "${LINE}p" "$DIR/colors.txt")
echo "My favorite color of the rainbow is $COLOR."
