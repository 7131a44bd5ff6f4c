# What the benchmarks share; sourced (POSIX sh and bash alike).

# median: the median of the numbers on standard input, one a line.
median () { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# timed NAME CMD…: the wall time of CMD in µs, from bench/measure ($measure),
# appended to $dir/NAME.
timed () {
  name=$1
  shift
  "$measure" "$@" | awk '{ print $1 }' >>"$dir/$name"
}
