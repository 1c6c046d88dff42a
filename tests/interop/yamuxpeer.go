// yamuxpeer — the unmodified hashicorp/yamux (Debian golang-github-hashicorp-yamux-dev) on
// either end of vmgate's serial channel protocol (docs/protocol.md), for interop tests.
//
//	yamuxpeer host  -sock PATH -echo PORT -closed PORT -denied PORT -banner PORT [-streams N] [-bytes B]
//	    yamux.Client talking to vmgate-agent --listen unix:PATH.  Prints "PASS <check>" /
//	    "FAIL <check>: why" lines; exits 1 if anything failed.
//	yamuxpeer guest -listen PATH [-dial NAME:PORT]
//	    yamux.Server playing the agent for vg_mux clients (muxclient): answers "CONNECT <port>"
//	    with OK and echoes (FIN after the echo); with -dial it also opens a stream to the host
//	    in every session ("CONNECT NAME PORT"), sends 1 MB and checks the echo.
//
// Build offline: GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off go build yamuxpeer.go
//
// Note: this yamux version (2019) returns EOF from Read once the stream was closed locally, so
// the checks here never read after their own Close.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

var failed bool

func pass(format string, a ...interface{}) {
	fmt.Printf("PASS "+format+"\n", a...)
}

func fail(format string, a ...interface{}) {
	failed = true
	fmt.Printf("FAIL "+format+"\n", a...)
}

func config() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = 2 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.LogOutput = os.Stderr
	return c
}

// request writes one preamble line and reads the one-line reply through r.
func request(s *yamux.Stream, r *bufio.Reader, line string) (string, error) {
	if _, err := s.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := r.ReadString('\n')
	s.SetReadDeadline(time.Time{})
	return strings.TrimRight(reply, "\n"), err
}

// echoCheck: CONNECT to an echo port, send n random bytes while reading them back.
func echoCheck(sess *yamux.Session, port, n int) error {
	s, err := sess.OpenStream()
	if err != nil {
		return fmt.Errorf("open: %v", err)
	}
	defer s.Close()
	r := bufio.NewReader(s)
	reply, err := request(s, r, fmt.Sprintf("CONNECT %d", port))
	if err != nil || reply != "OK" {
		return fmt.Errorf("reply %q, %v", reply, err)
	}
	data := make([]byte, n)
	rand.Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		werr <- err
	}()
	back := make([]byte, n)
	s.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(r, back); err != nil {
		return fmt.Errorf("read back: %v", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %v", err)
	}
	if !bytes.Equal(data, back) {
		return fmt.Errorf("echo differs")
	}
	return nil
}

func expectErr(sess *yamux.Session, port int, code string) error {
	s, err := sess.OpenStream()
	if err != nil {
		return err
	}
	defer s.Close()
	reply, err := request(s, bufio.NewReader(s), fmt.Sprintf("CONNECT %d", port))
	if !strings.HasPrefix(reply, "ERR "+code+" ") {
		return fmt.Errorf("reply %q, %v", reply, err)
	}
	return nil
}

func runHost(sock string, echo, closed, denied, banner, streams, nbytes int) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fail("dial %s: %v", sock, err)
		return
	}
	sess, err := yamux.Client(conn, config())
	if err != nil {
		fail("yamux.Client: %v", err)
		return
	}
	defer sess.Close()

	if rtt, err := sess.Ping(); err != nil {
		fail("ping: %v", err)
	} else {
		pass("ping answered by the agent (rtt %v)", rtt)
	}

	if err := echoCheck(sess, echo, nbytes); err != nil {
		fail("CONNECT echo, %d bytes: %v", nbytes, err)
	} else {
		pass("CONNECT %d: %d bytes echoed intact (beyond the 256 KiB window)", echo, nbytes)
	}

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoCheck(sess, echo, nbytes/4)
		}()
	}
	wg.Wait()
	close(errs)
	bad := 0
	for e := range errs {
		if e != nil {
			bad++
			fail("parallel stream: %v", e)
		}
	}
	if bad == 0 {
		pass("%d parallel streams echoed intact", streams)
	}

	if err := expectErr(sess, closed, "refused"); err != nil {
		fail("closed port: %v", err)
	} else {
		pass("closed port → ERR refused")
	}
	if err := expectErr(sess, denied, "denied"); err != nil {
		fail("denied port: %v", err)
	} else {
		pass("port outside the allowlist → ERR denied")
	}

	// the agent's FIN first: the banner service shuts its side down at once; we read EOF and
	// keep writing afterwards (the service logs what it got)
	if err := func() error {
		s, err := sess.OpenStream()
		if err != nil {
			return err
		}
		r := bufio.NewReader(s)
		if reply, err := request(s, r, fmt.Sprintf("CONNECT %d", banner)); reply != "OK" {
			return fmt.Errorf("reply %q, %v", reply, err)
		}
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, err := ioutil.ReadAll(r)
		if err != nil || string(rest) != "banner\n" {
			return fmt.Errorf("got %q, %v (want banner + EOF)", rest, err)
		}
		data := make([]byte, 1000000)
		rand.Read(data)
		if _, err := s.Write(data); err != nil {
			return fmt.Errorf("write after the peer's FIN: %v", err)
		}
		sum := sha256.Sum256(data)
		fmt.Printf("banner-sent %d %s\n", len(data), hex.EncodeToString(sum[:]))
		return s.Close()
	}(); err != nil {
		fail("half-close, agent side first: %v", err)
	} else {
		pass("half-close: agent's FIN seen as EOF, writing continued after it")
	}

	// control stream
	if err := func() error {
		s, err := sess.OpenStream()
		if err != nil {
			return err
		}
		defer s.Close()
		r := bufio.NewReader(s)
		if reply, err := request(s, r, "CONTROL"); reply != "OK" {
			return fmt.Errorf("reply %q, %v", reply, err)
		}
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		hello, _ := r.ReadString('\n')
		if !strings.HasPrefix(hello, "hello agent=vmgate-agent ") {
			return fmt.Errorf("hello %q", hello)
		}
		s.Write([]byte("hello name=go.vm.test zone=vm.test host=gohost\nreq id=42 op=ping\nreq id=43 op=nope\n"))
		l1, _ := r.ReadString('\n')
		l2, _ := r.ReadString('\n')
		if l1 != "event id=42 status=ok\n" || l2 != "event id=43 status=error reason=unknown-op\n" {
			return fmt.Errorf("events %q %q", l1, l2)
		}
		return nil
	}(); err != nil {
		fail("control stream: %v", err)
	} else {
		pass("control stream: hello, req/event round trips")
	}
}

func serveGuestStream(s *yamux.Stream) {
	defer s.Close()
	r := bufio.NewReader(s)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	line = strings.TrimRight(line, "\r\n")
	var port int
	if _, err := fmt.Sscanf(line, "CONNECT %d", &port); err != nil || port < 1 || port > 65535 {
		s.Write([]byte("ERR error bad request\n"))
		return
	}
	if port == 9 { // discard port: refuse like a closed port
		s.Write([]byte("ERR refused nothing listens on 9\n"))
		return
	}
	s.Write([]byte("OK\n"))
	n, err := io.Copy(s, r) // echo until the host's FIN, then our FIN (deferred Close)
	fmt.Printf("guest: stream %d echoed %d bytes (%v)\n", s.StreamID(), n, err)
}

func dialCheck(sess *yamux.Session, target string) {
	s, err := sess.OpenStream()
	if err != nil {
		fmt.Printf("dial: open: %v\n", err)
		return
	}
	defer s.Close()
	if s.StreamID()%2 != 0 {
		fmt.Printf("dial: FAIL odd stream id %d from the server side\n", s.StreamID())
	}
	r := bufio.NewReader(s)
	parts := strings.SplitN(target, ":", 2)
	reply, err := request(s, r, "CONNECT "+parts[0]+" "+parts[1])
	if reply != "OK" {
		fmt.Printf("dial: reply %q %v\n", reply, err)
		return
	}
	data := make([]byte, 1000000)
	rand.Read(data)
	go s.Write(data)
	back := make([]byte, len(data))
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(r, back); err != nil || !bytes.Equal(back, data) {
		fmt.Printf("dial: FAIL echo through the host: %v\n", err)
		return
	}
	fmt.Printf("dial: OK %d bytes echoed through the host (stream %d)\n", len(data), s.StreamID())
}

func runGuest(path, dial string) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fail("listen: %v", err)
		return
	}
	fmt.Println("guest: listening")
	for {
		conn, err := l.Accept()
		if err != nil {
			fail("accept: %v", err)
			return
		}
		sess, err := yamux.Server(conn, config())
		if err != nil {
			fail("yamux.Server: %v", err)
			return
		}
		fmt.Println("guest: session")
		if dial != "" {
			go dialCheck(sess, dial)
		}
		for {
			s, err := sess.AcceptStream()
			if err != nil {
				fmt.Printf("guest: session ended: %v\n", err)
				break
			}
			go serveGuestStream(s)
		}
		sess.Close()
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: yamuxpeer host|guest [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	sock := fs.String("sock", "", "agent socket (host mode)")
	listen := fs.String("listen", "", "socket to listen on (guest mode)")
	dial := fs.String("dial", "", "NAME:PORT to open from the guest side")
	echo := fs.Int("echo", 0, "echo port in the guest")
	closed := fs.Int("closed", 0, "closed port in the guest")
	denied := fs.Int("denied", 0, "port not in the agent's allowlist")
	banner := fs.Int("banner", 0, "banner port (the service closes first)")
	streams := fs.Int("streams", 8, "parallel streams")
	nbytes := fs.Int("bytes", 3000000, "bytes per echo check")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "host":
		runHost(*sock, *echo, *closed, *denied, *banner, *streams, *nbytes)
	case "guest":
		runGuest(*listen, *dial)
	default:
		fmt.Fprintln(os.Stderr, "usage: yamuxpeer host|guest [flags]")
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
