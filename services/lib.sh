# Shared by the services/ scripts (sourced, not run).

# Closes every descriptor above 2 in the calling (sub)shell before it starts a daemon: a server
# started with one open holds it for as long as it runs. Holding a lock file, every later start
# or stop would wait for it; holding the pipe or socket a parent watches for the script's end
# (Swift's Foundation.Process does so), that parent would never see the script end.
close_inherited() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}
