package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"
)

// qmp is a client of one VM's QEMU Machine Protocol socket: JSON objects,
// one per line, a command answered by a "return" or an "error" object,
// with asynchronous "event" objects in between (skipped here). It speaks
// only what the runtime needs (qmp_capabilities, system_powerdown,
// system_reset, quit), so no library is needed for it.
type qmp struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// qmpTimeout bounds one QMP exchange.
const qmpTimeout = 30 * time.Second

// dialQMP connects to a QMP unix socket, reads QEMU's greeting and leaves
// capability negotiation mode.
func dialQMP(path string) (*qmp, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	q := &qmp{conn: conn, r: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(qmpTimeout))
	var greeting struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	line, err := q.r.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &greeting)
	}
	if err == nil && greeting.QMP == nil {
		err = fmt.Errorf("not a QMP greeting: %.100q", line)
	}
	if err == nil {
		_, err = q.executeLocked("qmp_capabilities")
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp %s: %w", path, err)
	}
	return q, nil
}

// execute runs a command without arguments and waits for its answer.
func (q *qmp) execute(command string) error {
	_, err := q.query(command)
	return err
}

// query runs a command without arguments and returns its answer's
// "return" value.
func (q *qmp) query(command string) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.conn.SetDeadline(time.Now().Add(qmpTimeout))
	return q.executeLocked(command)
}

func (q *qmp) executeLocked(command string) (json.RawMessage, error) {
	req, _ := json.Marshal(map[string]string{"execute": command})
	if _, err := q.conn.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", command, err)
		}
		var msg struct {
			Event  string           `json:"event"`
			Return *json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			return nil, fmt.Errorf("qmp %s: bad answer %.100q: %w", command, line, err)
		}
		switch {
		case msg.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s: %s", command, msg.Error.Class, msg.Error.Desc)
		case msg.Return != nil:
			return *msg.Return, nil
		}
		// An event: not the answer.
	}
}

// Close closes the connection.
func (q *qmp) Close() error { return q.conn.Close() }
