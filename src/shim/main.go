// Command patchbay is the CNI shim: the container runtime executes it (as `patchbay`, or `patchbay-ipam`
// for the IPAM plugin), and it relays the call (CNI_* env + stdin) to the node daemon over a unix socket,
// then prints the daemon's answer and exits with its code. No logic lives here: a Go binary starts in about
// a millisecond, a Node process in about 120.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	os.Exit(run(os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}

// netconfHints are the only keys the shim reads from the config it relays.
type netconfHints struct {
	CNIVersion   string `json:"cniVersion"`
	DaemonSocket string `json:"daemonSocket"`
}

func run(args []string, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := cniEnv(environ)
	plugin := "patchbay"
	if len(args) > 0 {
		plugin = filepath.Base(args[0])
	}
	verb := env["CNI_COMMAND"]
	socket := lookup(environ, socketEnv)
	if socket == "" {
		socket = defaultSocket
	}
	if verb == "" {
		// What skel does for a human running the binary: say what it is.
		fmt.Fprintf(stderr, "%s: Patchbay CNI shim, relays CNI calls to the node daemon at %s\n", plugin, socket)
		return 0
	}
	input, err := io.ReadAll(io.LimitReader(stdin, maxBodyBytes+1))
	if err != nil || len(input) > maxBodyBytes {
		return fail(stdout, "", 5, "I/O failure", fmt.Sprintf("reading stdin: %v", err))
	}
	var hints netconfHints
	_ = json.Unmarshal(input, &hints) // a bad config is for the daemon to report, with the right code
	if hints.DaemonSocket != "" {
		socket = hints.DaemonSocket
	}
	timeout, ok := verbTimeouts[verb]
	if !ok {
		timeout = 60 * time.Second
	}
	if t := lookup(environ, timeoutEnv); t != "" {
		if d, err := time.ParseDuration(t); err == nil && d > 0 {
			timeout = d
		}
	}
	unavailable := 11 // try again later
	if verb == "STATUS" {
		unavailable = 50 // plugin not available
	}

	frame, err := encodeRequest(&request{Verb: verb, Plugin: plugin, Env: env, Stdin: input})
	if err != nil {
		return fail(stdout, hints.CNIVersion, 5, "I/O failure", err.Error())
	}
	conn, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return fail(stdout, hints.CNIVersion, unavailable, "patchbay daemon unreachable",
			fmt.Sprintf("cannot connect to the daemon socket %s: %v", socket, err))
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(frame); err != nil {
		return fail(stdout, hints.CNIVersion, unavailable, "patchbay daemon unreachable",
			fmt.Sprintf("sending to the daemon socket %s: %v", socket, err))
	}
	resp, err := decodeResponse(conn)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(stdout, hints.CNIVersion, unavailable, "patchbay daemon did not answer in time",
				fmt.Sprintf("no answer on %s within %s", socket, timeout))
		}
		return fail(stdout, hints.CNIVersion, unavailable, "bad answer from the patchbay daemon",
			fmt.Sprintf("socket %s: %v", socket, err))
	}
	_, _ = stdout.Write(resp.Stdout)
	_, _ = io.WriteString(stderr, resp.Stderr)
	return resp.ExitCode
}

// fail prints the spec's error result on stdout and returns the exit code.
func fail(stdout io.Writer, cniVersion string, code int, msg, details string) int {
	if cniVersion == "" {
		cniVersion = "1.1.0"
	}
	out, _ := marshal(map[string]any{"cniVersion": cniVersion, "code": code, "msg": msg, "details": details})
	_, _ = stdout.Write(out)
	return 1
}

func lookup(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if len(environ[i]) > len(key) && environ[i][:len(key)] == key && environ[i][len(key)] == '=' {
			return environ[i][len(key)+1:]
		}
	}
	return ""
}
