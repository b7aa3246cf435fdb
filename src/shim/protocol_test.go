package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The same values as test/unit/shim/golden-cases.ts: both sides must produce and accept these bytes.
var goldenRequest = request{
	Verb:   "ADD",
	Plugin: "patchbay",
	Env: map[string]string{
		"CNI_PATH":        "/opt/cni/bin",
		"CNI_COMMAND":     "ADD",
		"CNI_CONTAINERID": "c0ffee",
		"CNI_NETNS":       "/run/netns/pod-ü",
		"CNI_IFNAME":      "eth0",
		"CNI_ARGS":        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0<&>",
	},
	Stdin: []byte("{\"cniVersion\":\"1.1.0\",\"name\":\"pods\",\"type\":\"patchbay\"}\n"),
}

var goldenResponse = response{
	ExitCode: 0,
	Stdout:   []byte(`{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/pod"}],"ips":[{"address":"10.1.0.5/16","interface":0}]}`),
	Stderr:   "delegate bridge: \"ok\" <done>\n",
}

var goldenErrorResponse = response{
	ExitCode: 1,
	Stdout:   []byte(`{"cniVersion":"1.1.0","code":7,"msg":"invalid network configuration","details":"x"}`),
	Stderr:   "",
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestGoldenBytes(t *testing.T) {
	r := goldenRequest
	got, err := encodeRequest(&r)
	if err != nil {
		t.Fatal(err)
	}
	if want := golden(t, "request.bin"); !bytes.Equal(got, want) {
		t.Fatalf("encodeRequest differs from testdata/request.bin\n got %q\nwant %q", got, want)
	}
	back, err := decodeRequest(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if back.Verb != r.Verb || back.Plugin != r.Plugin || !bytes.Equal(back.Stdin, r.Stdin) || len(back.Env) != len(r.Env) {
		t.Fatalf("decodeRequest: %+v", back)
	}
	for k, v := range r.Env {
		if back.Env[k] != v {
			t.Fatalf("env %s: got %q want %q", k, back.Env[k], v)
		}
	}
}

func TestResponseGoldenBytes(t *testing.T) {
	for name, r := range map[string]response{"response.bin": goldenResponse, "error-response.bin": goldenErrorResponse} {
		rr := r
		got, err := encodeResponse(&rr)
		if err != nil {
			t.Fatal(err)
		}
		want := golden(t, name)
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeResponse differs from testdata/%s\n got %q\nwant %q", name, got, want)
		}
		back, err := decodeResponse(bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		if back.ExitCode != r.ExitCode || back.Stderr != r.Stderr || !bytes.Equal(back.Stdout, r.Stdout) {
			t.Fatalf("decodeResponse(%s): %+v", name, back)
		}
	}
}

func TestDecodeRefusesBadFrames(t *testing.T) {
	good := golden(t, "response.bin")
	cases := map[string][]byte{
		"magic":     append([]byte("XXXX"), good[4:]...),
		"version":   append(append(append([]byte{}, good[:4]...), 2), good[5:]...),
		"kind":      append(append(append([]byte{}, good[:5]...), kindRequest), good[6:]...),
		"truncated": good[:len(good)-1],
		"huge":      append(append([]byte{}, good[:8]...), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0),
	}
	for name, b := range cases {
		if _, err := decodeResponse(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func runShim(t *testing.T, env []string, stdin string) (int, map[string]any) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{"/opt/cni/bin/patchbay"}, env, strings.NewReader(stdin), &out, &errOut)
	var res map[string]any
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("stdout is not JSON: %q", out.String())
		}
	}
	return code, res
}

func TestDaemonDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for verb, want := range map[string]float64{"ADD": 11, "DEL": 11, "CHECK": 11, "STATUS": 50} {
		code, res := runShim(t, []string{"CNI_COMMAND=" + verb, "PATCHBAY_SOCKET=" + sock}, `{"cniVersion":"0.4.0"}`)
		if code != 1 || res["code"] != want || res["cniVersion"] != "0.4.0" || !strings.Contains(res["details"].(string), sock) {
			t.Errorf("%s: exit %d, %v", verb, code, res)
		}
	}
}

func TestRelayAndNetconfSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *request, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := decodeRequest(c)
		if err != nil {
			t.Error(err)
			return
		}
		got <- req
		frame, _ := encodeResponse(&response{ExitCode: 3, Stdout: []byte(`{"code":3}`)})
		_, _ = c.Write(frame)
	}()
	stdin := `{"cniVersion":"1.1.0","daemonSocket":"` + sock + `"}`
	env := []string{"CNI_COMMAND=DEL", "CNI_IFNAME=eth0", "HOME=/root", "PATCHBAY_SOCKET=/nonexistent"}
	code, res := runShim(t, env, stdin)
	if code != 3 || res["code"] != float64(3) {
		t.Fatalf("exit %d, %v", code, res)
	}
	select {
	case req := <-got:
		if req.Verb != "DEL" || req.Plugin != "patchbay" || string(req.Stdin) != stdin || len(req.Env) != 2 {
			t.Fatalf("request %+v", req)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
}
