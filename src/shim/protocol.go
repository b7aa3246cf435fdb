package main

// The shim <-> daemon wire protocol. It is defined in protocol.ts (read that first); this file mirrors it,
// and protocol_test.go checks both against the golden bytes in testdata/.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	protocolVersion  = 1
	frameHeaderBytes = 16
	maxHeaderBytes   = 1 << 20
	maxBodyBytes     = 16 << 20
	kindRequest      = 1
	kindResponse     = 2
	defaultSocket    = "/run/patchbay/cni.sock"
	socketEnv        = "PATCHBAY_SOCKET"
	timeoutEnv       = "PATCHBAY_SHIM_TIMEOUT"
)

var magic = []byte("PBSH")

// Per-verb timeouts, as SHIM_TIMEOUT_MS in protocol.ts: ADD may wait for the fabric.
var verbTimeouts = map[string]time.Duration{
	"ADD":     300 * time.Second,
	"DEL":     120 * time.Second,
	"CHECK":   60 * time.Second,
	"GC":      120 * time.Second,
	"STATUS":  10 * time.Second,
	"VERSION": 10 * time.Second,
}

type request struct {
	Verb   string            `json:"verb"`
	Plugin string            `json:"plugin"`
	Env    map[string]string `json:"env"`
	Stdin  []byte            `json:"-"`
}

type response struct {
	ExitCode int    `json:"exitCode"`
	Stderr   string `json:"stderr"`
	Stdout   []byte `json:"-"`
}

// marshal is JSON without HTML escaping, so that the bytes match JSON.stringify's.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func encodeFrame(kind byte, header any, body []byte) ([]byte, error) {
	h, err := marshal(header)
	if err != nil {
		return nil, err
	}
	if len(h) > maxHeaderBytes || len(body) > maxBodyBytes {
		return nil, fmt.Errorf("frame too large (header %d, body %d bytes)", len(h), len(body))
	}
	out := make([]byte, frameHeaderBytes, frameHeaderBytes+len(h)+len(body))
	copy(out, magic)
	out[4] = protocolVersion
	out[5] = kind
	binary.BigEndian.PutUint32(out[8:], uint32(len(h)))
	binary.BigEndian.PutUint32(out[12:], uint32(len(body)))
	return append(append(out, h...), body...), nil
}

func encodeRequest(r *request) ([]byte, error) {
	if r.Env == nil {
		r.Env = map[string]string{}
	}
	return encodeFrame(kindRequest, r, r.Stdin)
}

func encodeResponse(r *response) ([]byte, error) {
	return encodeFrame(kindResponse, r, r.Stdout)
}

// readFrame reads one frame; the fixed prefix is checked before any claimed length is trusted.
func readFrame(rd io.Reader, wantKind byte) (header, body []byte, err error) {
	var prefix [frameHeaderBytes]byte
	if _, err := io.ReadFull(rd, prefix[:]); err != nil {
		return nil, nil, fmt.Errorf("reading frame: %w", err)
	}
	if !bytes.Equal(prefix[:4], magic) {
		return nil, nil, errors.New("not a patchbay shim frame")
	}
	if prefix[4] != protocolVersion {
		return nil, nil, fmt.Errorf("protocol version %d, expected %d", prefix[4], protocolVersion)
	}
	if prefix[5] != wantKind {
		return nil, nil, fmt.Errorf("frame kind %d, expected %d", prefix[5], wantKind)
	}
	hlen := binary.BigEndian.Uint32(prefix[8:])
	blen := binary.BigEndian.Uint32(prefix[12:])
	if hlen > maxHeaderBytes || blen > maxBodyBytes {
		return nil, nil, fmt.Errorf("frame too large (header %d, body %d bytes)", hlen, blen)
	}
	buf := make([]byte, int(hlen)+int(blen))
	if _, err := io.ReadFull(rd, buf); err != nil {
		return nil, nil, fmt.Errorf("reading frame: %w", err)
	}
	return buf[:hlen], buf[hlen:], nil
}

func decodeRequest(rd io.Reader) (*request, error) {
	h, body, err := readFrame(rd, kindRequest)
	if err != nil {
		return nil, err
	}
	r := &request{}
	if err := json.Unmarshal(h, r); err != nil {
		return nil, fmt.Errorf("request header: %w", err)
	}
	r.Stdin = body
	return r, nil
}

func decodeResponse(rd io.Reader) (*response, error) {
	h, body, err := readFrame(rd, kindResponse)
	if err != nil {
		return nil, err
	}
	r := &response{ExitCode: -1}
	if err := json.Unmarshal(h, r); err != nil {
		return nil, fmt.Errorf("response header: %w", err)
	}
	if r.ExitCode < 0 || r.ExitCode > 255 {
		return nil, fmt.Errorf("response header: exitCode %d out of range", r.ExitCode)
	}
	r.Stdout = body
	return r, nil
}

// cniEnv keeps the CNI_* variables of an environment: the daemon gets nothing else of the runtime's env.
func cniEnv(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CNI_") {
			out[k] = v
		}
	}
	return out
}
