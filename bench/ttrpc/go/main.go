// ttrpc-go-bench SOCKET CALLERS SECONDS: the containerd Go ttrpc client (Debian's
// golang-github-containerd-ttrpc-dev) issuing unary interop.Echo calls with a 34-byte
// BytesValue from CALLERS goroutines on one connection for SECONDS. Prints one line:
// "<calls per second> <p50 latency µs> <p99 latency µs>".
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-go-bench SOCKET CALLERS SECONDS")
		os.Exit(2)
	}
	callers, err1 := strconv.Atoi(os.Args[2])
	seconds, err2 := strconv.ParseFloat(os.Args[3], 64)
	if err1 != nil || err2 != nil || callers < 1 || seconds <= 0 {
		fmt.Fprintln(os.Stderr, "CALLERS must be a positive integer and SECONDS a positive number")
		os.Exit(2)
	}
	conn, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()

	req := &types.BytesValue{Value: []byte("0123456789abcdef0123456789abcdef")}
	latencies := make([][]time.Duration, callers)
	start := time.Now()
	until := start.Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	var failure error
	var failOnce sync.Once
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var resp types.BytesValue
			for {
				t := time.Now()
				if !t.Before(until) {
					return
				}
				if err := c.Call(context.Background(), "interop.Echo", "Echo", req, &resp); err != nil {
					failOnce.Do(func() { failure = err })
					return
				}
				latencies[g] = append(latencies[g], time.Since(t))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		fmt.Fprintln(os.Stderr, "call failed:", failure)
		os.Exit(1)
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "no call completed")
		os.Exit(1)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	quantile := func(q float64) float64 {
		return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) / 1e3
	}
	fmt.Printf("%.0f %.1f %.1f\n", float64(len(all))/elapsed.Seconds(), quantile(0.5), quantile(0.99))
}
