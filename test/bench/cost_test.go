package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cost is what creating a set of workloads took: the wall time, and the CPU time the control plane (kube-apiserver
// and etcd, children of this process) spent meanwhile. On a machine that other work shares, the CPU time moves
// much less than the wall time, so it tells the sets apart where the wall time is noise.
type cost struct {
	Wall, CPU time.Duration
}

func (c *cost) add(o cost) { c.Wall += o.Wall; c.CPU += o.CPU }

// costOf runs do and returns what it cost.
func costOf(do func()) cost {
	cpu, start := controlPlaneCPU(), time.Now()
	do()
	return cost{Wall: time.Since(start), CPU: controlPlaneCPU() - cpu}
}

// over is how much more c took than base, as a fraction: wall time and CPU time.
func (c cost) over(base cost) (wall, cpu float64) {
	return c.Wall.Seconds()/base.Wall.Seconds() - 1, c.CPU.Seconds()/base.CPU.Seconds() - 1
}

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on every Linux architecture Go
// supports).
const clockTicks = 100

// controlPlaneProcesses are the commands whose CPU time measure counts.
var controlPlaneProcesses = map[string]bool{"kube-apiserver": true, "etcd": true}

// controlPlaneCPU is the CPU time (user and system) kube-apiserver and etcd, started by envtest as children of
// this process, have used so far.
func controlPlaneCPU() time.Duration {
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		stat := string(raw)
		open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || closing < open || !controlPlaneProcesses[stat[open+1:closing]] {
			continue
		}
		// After the command: state, ppid, ..., utime (the 12th field after it) and stime.
		fields := strings.Fields(stat[closing+1:])
		if len(fields) < 13 || fields[1] != self {
			continue
		}
		user, _ := strconv.ParseInt(fields[11], 10, 64)
		system, _ := strconv.ParseInt(fields[12], 10, 64)
		ticks += user + system
	}
	return time.Duration(ticks) * time.Second / clockTicks
}
