// ttrpc-go-bench [-method SERVICE/METHOD -request HEX [-response HEX]] SOCKET CALLERS SECONDS:
// the containerd Go ttrpc client (Debian's golang-github-containerd-ttrpc-dev), as the Kata
// shim uses it, issuing unary calls from CALLERS goroutines on one connection for SECONDS.
// Prints one line: "<calls per second> <p50 latency µs> <p99 latency µs>".
//
// By default each call is interop.Echo with a 34-byte BytesValue (bench/ttrpc). With -method,
// each call is that method with the request bytes given in hex, and the response must equal
// -response when given (bench/chain: grpc.Health/Check through the proxy chain). One untimed
// call is made first, so that a relay that sets up its side of the connection lazily (socat
// forks and handshakes at the first bytes) does not count that in the run.
package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/proto"
	"github.com/gogo/protobuf/types"
)

// rawMessage is a message as its encoded bytes: the ttrpc codec (gogo proto) calls its Marshal
// and Unmarshal, so any service can be called without its Go types.
type rawMessage struct{ b []byte }

func (m *rawMessage) Reset()                   { m.b = m.b[:0] }
func (m *rawMessage) String() string           { return hex.EncodeToString(m.b) }
func (*rawMessage) ProtoMessage()              {}
func (m *rawMessage) Marshal() ([]byte, error) { return m.b, nil }
func (m *rawMessage) Unmarshal(b []byte) error { m.b = append(m.b[:0], b...); return nil }

func usage(msg string) {
	if msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	fmt.Fprintln(os.Stderr,
		"usage: ttrpc-go-bench [-method SERVICE/METHOD -request HEX [-response HEX]] SOCKET CALLERS SECONDS")
	os.Exit(2)
}

func main() {
	method := flag.String("method", "", "SERVICE/METHOD to call instead of interop.Echo")
	requestHex := flag.String("request", "", "with -method: the request message, hex")
	responseHex := flag.String("response", "", "with -method: the response every call must return, hex")
	flag.Usage = func() { usage("") }
	flag.Parse()
	if flag.NArg() != 3 {
		usage("")
	}
	callers, err1 := strconv.Atoi(flag.Arg(1))
	seconds, err2 := strconv.ParseFloat(flag.Arg(2), 64)
	if err1 != nil || err2 != nil || callers < 1 || seconds <= 0 {
		usage("CALLERS must be a positive integer and SECONDS a positive number")
	}

	service, name := "interop.Echo", "Echo"
	var request []byte
	var expected []byte
	checkResponse := false
	newRequest := func() proto.Message {
		return &types.BytesValue{Value: []byte("0123456789abcdef0123456789abcdef")}
	}
	newResponse := func() proto.Message { return &types.BytesValue{} }
	if *method != "" {
		slash := strings.LastIndex(*method, "/")
		if slash <= 0 || slash == len(*method)-1 {
			usage("-method must be SERVICE/METHOD, e.g. grpc.Health/Check")
		}
		service, name = (*method)[:slash], (*method)[slash+1:]
		var err error
		if request, err = hex.DecodeString(*requestHex); err != nil {
			usage("-request: " + err.Error())
		}
		if *responseHex != "" {
			if expected, err = hex.DecodeString(*responseHex); err != nil {
				usage("-response: " + err.Error())
			}
			checkResponse = true
		}
		newRequest = func() proto.Message { return &rawMessage{b: request} }
		newResponse = func() proto.Message { return &rawMessage{} }
	} else if *requestHex != "" || *responseHex != "" {
		usage("-request and -response need -method")
	}

	conn, err := net.Dial("unix", flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()

	call := func(req, resp proto.Message) error {
		if err := c.Call(context.Background(), service, name, req, resp); err != nil {
			return err
		}
		if checkResponse {
			if got := resp.(*rawMessage).b; string(got) != string(expected) {
				return fmt.Errorf("response %x, want %x", got, expected)
			}
		}
		return nil
	}
	if err := call(newRequest(), newResponse()); err != nil {
		fmt.Fprintln(os.Stderr, "first call failed:", err)
		os.Exit(1)
	}

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
			req, resp := newRequest(), newResponse()
			for {
				t := time.Now()
				if !t.Before(until) {
					return
				}
				if err := call(req, resp); err != nil {
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
