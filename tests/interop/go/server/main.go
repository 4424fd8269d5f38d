// ttrpc-go-server SOCKET: a server built on the containerd Go ttrpc library (Debian's
// golang-github-containerd-ttrpc-dev 1.1.1) for our C++ client to talk to, in the interop test
// and in the benchmark. Messages are gogo well-known types, whose encodings are simple:
// BytesValue{1: bytes}, Int32Value{1: varint}, StringValue{1: string}, Empty{}.
//
// Services:
//
//	interop.Echo/Echo   BytesValue -> the same BytesValue
//	interop.Echo/Fail   Int32Value{code} -> error status{code, "failed with code N"}
//	interop.Echo/Sleep  Int32Value{ms} -> Int32Value{ms} after ms, or the context's error
//	interop.Echo/Meta   Empty -> StringValue "k=v;...;deadline|nodeadline" (sorted keys)
//	grpc.Health/Check   Empty -> HealthCheckResponse{status: SERVING}
//
// Prints "ready" once listening; SIGTERM or SIGINT stops it.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func echo(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	in := &types.BytesValue{}
	if err := unmarshal(in); err != nil {
		return nil, err
	}
	return in, nil
}

func failWith(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var in types.Int32Value
	if err := unmarshal(&in); err != nil {
		return nil, err
	}
	return nil, status.Errorf(codes.Code(in.Value), "failed with code %d", in.Value)
}

func sleepFor(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var in types.Int32Value
	if err := unmarshal(&in); err != nil {
		return nil, err
	}
	timer := time.NewTimer(time.Duration(in.Value) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		return &types.Int32Value{Value: in.Value}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// describeCall renders what the handler saw of the request: its metadata, sorted by key (values
// in the order sent), and whether the context carries a deadline.
func describeCall(ctx context.Context) string {
	var b strings.Builder
	md, _ := ttrpc.GetMetadata(ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range md[k] {
			fmt.Fprintf(&b, "%s=%s;", k, v)
		}
	}
	if _, ok := ctx.Deadline(); ok {
		b.WriteString("deadline")
	} else {
		b.WriteString("nodeadline")
	}
	return b.String()
}

func meta(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var in types.Empty
	if err := unmarshal(&in); err != nil {
		return nil, err
	}
	return &types.StringValue{Value: describeCall(ctx)}, nil
}

func healthCheck(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var in types.Empty
	if err := unmarshal(&in); err != nil {
		return nil, err
	}
	// HealthCheckResponse has one field, status = 1 (enum); SERVING is 1. Int32Value{1: 1}
	// has the same bytes.
	return &types.Int32Value{Value: 1}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-go-server SOCKET")
		os.Exit(2)
	}
	path := os.Args[1]
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
		"Echo":  echo,
		"Fail":  failWith,
		"Sleep": sleepFor,
		"Meta":  meta,
	})
	s.Register("grpc.Health", map[string]ttrpc.Method{"Check": healthCheck})

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	fmt.Println("ready")
	if err := s.Serve(ctx, l); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Remove(path)
}
