// ttrpc-peer: the containerd Go ttrpc library (Debian's golang-github-containerd-ttrpc-dev) as a
// peer for our C++ ttrpc: a server, a client running the interop scenario, and a benchmark
// server/client. Payloads are gogo well-known types, so their bytes are simple:
// BytesValue{1: bytes}, Int32Value{1: varint}.
//
//	ttrpc-peer server SOCKET
//	ttrpc-peer client SOCKET            (prints one JSON line per check)
//	ttrpc-peer bench-client SOCKET CONCURRENCY SECONDS
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func serve(path string) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Register("interop.Echo", map[string]ttrpc.Method{
		"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var in types.BytesValue
			if err := unmarshal(&in); err != nil {
				return nil, err
			}
			return &in, nil
		},
		"Fail": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var in types.Int32Value
			if err := unmarshal(&in); err != nil {
				return nil, err
			}
			return nil, status.Errorf(codes.Code(in.Value), "failed with code %d", in.Value)
		},
		"Sleep": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var in types.Int32Value
			if err := unmarshal(&in); err != nil {
				return nil, err
			}
			select {
			case <-time.After(time.Duration(in.Value) * time.Millisecond):
				return &types.Int32Value{Value: in.Value}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		"Meta": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var in types.Empty
			if err := unmarshal(&in); err != nil {
				return nil, err
			}
			md, _ := ttrpc.GetMetadata(ctx)
			keys := make([]string, 0, len(md))
			for k := range md {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := ""
			for _, k := range keys {
				for _, v := range md[k] {
					out += k + "=" + v + ";"
				}
			}
			if _, ok := ctx.Deadline(); ok {
				out += "deadline"
			} else {
				out += "nodeadline"
			}
			return &types.StringValue{Value: out}, nil
		},
	})
	s.Register("grpc.Health", map[string]ttrpc.Method{
		"Check": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var in types.Empty
			if err := unmarshal(&in); err != nil {
				return nil, err
			}
			return &types.Int32Value{Value: 1}, nil // HealthCheckResponse{status: SERVING}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		cancel()
		s.Close()
	}()
	fmt.Println("ready")
	if err := s.Serve(ctx, l); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type result struct {
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	Info  string `json:"info"`
}

func report(check string, ok bool, info string) {
	b, _ := json.Marshal(result{check, ok, info})
	fmt.Println(string(b))
}

func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Unknown
}

func client(path string) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	ctx := context.Background()

	var out types.BytesValue
	err = c.Call(ctx, "interop.Echo", "Echo", &types.BytesValue{Value: []byte("hello from go")}, &out)
	report("echo", err == nil && string(out.Value) == "hello from go", fmt.Sprint(err, string(out.Value)))

	var empty types.Empty
	err = c.Call(ctx, "interop.Echo", "Fail", &types.Int32Value{Value: int32(codes.NotFound)}, &empty)
	st, _ := status.FromError(err)
	report("error-code", codeOf(err) == codes.NotFound && st.Message() == "failed with code 5", fmt.Sprint(err))

	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	var slept types.Int32Value
	err = c.Call(tctx, "interop.Echo", "Sleep", &types.Int32Value{Value: 3000}, &slept)
	cancel()
	report("deadline", err != nil && time.Since(start) < 2*time.Second, fmt.Sprint(err, time.Since(start)))

	mctx := ttrpc.WithMetadata(ctx, ttrpc.MD{"traceparent": []string{"00-abc-01"}, "k": []string{"v1", "v2"}})
	mctx, cancel = context.WithTimeout(mctx, 5*time.Second)
	var meta types.StringValue
	err = c.Call(mctx, "interop.Echo", "Meta", &types.Empty{}, &meta)
	cancel()
	report("metadata", err == nil && meta.Value == "k=v1;k=v2;traceparent=00-abc-01;deadline", fmt.Sprint(err, meta.Value))

	err = c.Call(ctx, "no.Such", "Thing", &types.Empty{}, &empty)
	report("unknown-service", codeOf(err) == codes.Unimplemented, fmt.Sprint(err))
	err = c.Call(ctx, "interop.Echo", "Nope", &types.Empty{}, &empty)
	report("unknown-method", codeOf(err) == codes.Unimplemented, fmt.Sprint(err))

	var health types.Int32Value
	err = c.Call(ctx, "grpc.Health", "Check", &types.Empty{}, &health)
	report("health", err == nil && health.Value == 1, fmt.Sprint(err))

	var wg sync.WaitGroup
	var mu sync.Mutex
	good := 0
	for i := 0; i < 128; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var r types.BytesValue
			msg := []byte(strconv.Itoa(i))
			if err := c.Call(ctx, "interop.Echo", "Echo", &types.BytesValue{Value: msg}, &r); err == nil && string(r.Value) == string(msg) {
				mu.Lock()
				good++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	report("concurrent-128", good == 128, strconv.Itoa(good))
}

// bench-client: CONCURRENCY goroutines issue unary Echo calls for SECONDS on one connection.
// Prints "calls_per_sec p50_us p99_us".
func benchClient(path string, concurrency int, seconds float64) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	payload := &types.BytesValue{Value: []byte("0123456789abcdef0123456789abcdef")}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	lat := make([][]time.Duration, concurrency)
	var wg sync.WaitGroup
	for g := 0; g < concurrency; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ctx := context.Background()
			var out types.BytesValue
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := c.Call(ctx, "interop.Echo", "Echo", payload, &out); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		}(g)
	}
	start := time.Now()
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		fmt.Println("0 0 0")
		return
	}
	p := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) / 1000 }
	fmt.Printf("%.0f %.1f %.1f\n", float64(len(all))/elapsed.Seconds(), p(0.5), p(0.99))
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-peer server|client|bench-client SOCKET [CONCURRENCY SECONDS]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2])
	case "client":
		client(os.Args[2])
	case "bench-client":
		n, _ := strconv.Atoi(os.Args[3])
		s, _ := strconv.ParseFloat(os.Args[4], 64)
		benchClient(os.Args[2], n, s)
	default:
		os.Exit(2)
	}
}
