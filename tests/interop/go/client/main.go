// ttrpc-go-client SOCKET: the containerd Go ttrpc client (Debian's
// golang-github-containerd-ttrpc-dev 1.1.1) running the interop scenario against a server that
// implements the services of ../server/main.go (our C++ server in the interop test). Prints one
// JSON line per check, {"check": name, "ok": bool, "info": details}; the C++ test asserts on
// them. Exits non-zero only when it cannot connect.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type line struct {
	Check string `json:"check"`
	OK    bool   `json:"ok"`
	Info  string `json:"info"`
}

func report(check string, ok bool, format string, args ...interface{}) {
	b, _ := json.Marshal(line{Check: check, OK: ok, Info: fmt.Sprintf(format, args...)})
	fmt.Println(string(b))
}

func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

func messageOf(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return ""
}

// wireTimeout is a context key: when set, the interceptor below puts this timeout_nano in the
// Request while the Go context itself has no deadline, so only the server can enforce it.
type wireTimeout struct{}

func setWireTimeout(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response,
	_ *ttrpc.UnaryClientInfo, invoke ttrpc.Invoker) error {
	if d, ok := ctx.Value(wireTimeout{}).(time.Duration); ok {
		req.TimeoutNano = d.Nanoseconds()
	}
	return invoke(ctx, req, resp)
}

func checkEcho(c *ttrpc.Client, name string, payload []byte) {
	var out types.BytesValue
	err := c.Call(context.Background(), "interop.Echo", "Echo", &types.BytesValue{Value: payload}, &out)
	report(name, err == nil && bytes.Equal(out.Value, payload), "err=%v sent=%d got=%d", err, len(payload), len(out.Value))
}

func checkErrorCodes(c *ttrpc.Client) {
	for _, code := range []codes.Code{codes.Canceled, codes.InvalidArgument, codes.NotFound,
		codes.PermissionDenied, codes.FailedPrecondition, codes.Internal, codes.Unavailable} {
		var out types.Empty
		err := c.Call(context.Background(), "interop.Echo", "Fail", &types.Int32Value{Value: int32(code)}, &out)
		want := fmt.Sprintf("failed with code %d", code)
		report("error-"+code.String(), codeOf(err) == code && messageOf(err) == want, "err=%v", err)
	}
}

// The Go client's own context expires: it gives up with the context's error (ttrpc 1.1.1 does
// not wait for the server's answer).
func checkClientDeadline(c *ttrpc.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	var out types.Int32Value
	err := c.Call(ctx, "interop.Echo", "Sleep", &types.Int32Value{Value: 5000}, &out)
	took := time.Since(start)
	ok := (errors.Is(err, context.DeadlineExceeded) || codeOf(err) == codes.DeadlineExceeded) && took < 2*time.Second
	report("client-deadline", ok, "err=%v took=%v", err, took)
}

// Only timeout_nano on the wire: the server must end the call with DEADLINE_EXCEEDED itself.
func checkServerDeadline(c *ttrpc.Client) {
	ctx := context.WithValue(context.Background(), wireTimeout{}, 150*time.Millisecond)
	start := time.Now()
	var out types.Int32Value
	err := c.Call(ctx, "interop.Echo", "Sleep", &types.Int32Value{Value: 5000}, &out)
	took := time.Since(start)
	ok := codeOf(err) == codes.DeadlineExceeded && took >= 100*time.Millisecond && took < 2*time.Second
	report("server-deadline", ok, "err=%v took=%v", err, took)
}

func checkMetadata(c *ttrpc.Client) {
	md := ttrpc.MD{"traceparent": {"00-abc-01"}, "k": {"v1", "v2"}}
	ctx, cancel := context.WithTimeout(ttrpc.WithMetadata(context.Background(), md), 5*time.Second)
	defer cancel()
	var out types.StringValue
	err := c.Call(ctx, "interop.Echo", "Meta", &types.Empty{}, &out)
	want := "k=v1;k=v2;traceparent=00-abc-01;deadline"
	report("metadata", err == nil && out.Value == want, "err=%v got=%q", err, out.Value)

	out = types.StringValue{}
	err = c.Call(context.Background(), "interop.Echo", "Meta", &types.Empty{}, &out)
	report("no-metadata-no-deadline", err == nil && out.Value == "nodeadline", "err=%v got=%q", err, out.Value)
}

func checkUnknown(c *ttrpc.Client) {
	var out types.Empty
	err := c.Call(context.Background(), "no.Such", "Thing", &types.Empty{}, &out)
	report("unknown-service", codeOf(err) == codes.Unimplemented && messageOf(err) == "service no.Such", "err=%v", err)
	err = c.Call(context.Background(), "interop.Echo", "Nope", &types.Empty{}, &out)
	report("unknown-method", codeOf(err) == codes.Unimplemented && messageOf(err) == "method Nope", "err=%v", err)
}

func checkHealth(c *ttrpc.Client) {
	var out types.Int32Value
	err := c.Call(context.Background(), "grpc.Health", "Check", &types.Empty{}, &out)
	report("health", err == nil && out.Value == 1, "err=%v status=%d", err, out.Value)
}

// n calls at once on the one connection, each answered with its own payload.
func checkConcurrentEcho(c *ttrpc.Client, n int) {
	var good int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := []byte("call-" + strconv.Itoa(i))
			var out types.BytesValue
			err := c.Call(context.Background(), "interop.Echo", "Echo", &types.BytesValue{Value: msg}, &out)
			if err == nil && bytes.Equal(out.Value, msg) {
				atomic.AddInt64(&good, 1)
			}
		}(i)
	}
	wg.Wait()
	report("concurrent-echo-"+strconv.Itoa(n), good == int64(n), "good=%d", good)
}

// n one-second sleeps at once: if the server ran fewer than 64 of them at a time, they would
// take at least three seconds.
func checkInFlight(c *ttrpc.Client, n int) {
	var good int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out types.Int32Value
			err := c.Call(context.Background(), "interop.Echo", "Sleep", &types.Int32Value{Value: 1000}, &out)
			if err == nil && out.Value == 1000 {
				atomic.AddInt64(&good, 1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	report("in-flight-"+strconv.Itoa(n), good == int64(n) && took < 2500*time.Millisecond, "good=%d took=%v", good, took)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-go-client SOCKET")
		os.Exit(2)
	}
	conn, err := net.Dial("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(setWireTimeout))
	defer c.Close()

	checkEcho(c, "echo", []byte("hello from go"))
	checkEcho(c, "echo-empty", nil)
	checkEcho(c, "echo-1mib", bytes.Repeat([]byte("0123456789abcdef"), 1<<16))
	checkErrorCodes(c)
	checkClientDeadline(c)
	checkServerDeadline(c)
	checkMetadata(c)
	checkUnknown(c)
	checkHealth(c)
	checkConcurrentEcho(c, 256)
	checkInFlight(c, 128)
	// The connection still works after all of that.
	checkEcho(c, "echo-after", []byte("still here"))
}
