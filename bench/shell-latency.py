#!/usr/bin/env python3
"""Keystroke echo latency of Enter-RemoteShell against the bare protocol floor, measured in one run.

  python3 bench/shell-latency.py [--codex PATH] [--keys 200]

Starts a codex exec-server on 127.0.0.1, then measures, alternating rounds on the same server:

  floor  a minimal WebSocket client (this file, stdlib only) on its own connection: process/write of one byte to a tty
         `cat`, until the process/output notification carrying its echo arrives. With TCP_QUICKACK re-armed before each
         read, like ExecBridge's client; a few rounds without it show the ~40 ms a delayed ACK costs (the server sends the
         write's response and then the echo as two small segments without disabling Nagle);
  shell  a real pwsh on a local pty (pty.fork) running `Enter-RemoteShell -Command cat`: one byte written to the pty's
         master (as a terminal does for a keystroke) until its echo is read back from the master.

Both echoes come from the remote pty's line discipline, so the difference is what Enter-RemoteShell adds: the local
terminal read, the client's write, the notification path and the console write. Prints median / p90 / max per path and
the ratio of the medians. Needs the module built (out/ExecBridge) and the pinned pwsh (dotnet tool restore).
"""
import argparse, base64, json, os, pty, random, select, socket, statistics, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Ws:
    """Just enough RFC 6455 for JSON-RPC text frames on loopback (client frames masked, no extensions)."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(4096)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(head.decode(errors="replace"))
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536
                                else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            if self.quickack:  # re-armed before every read, as ExecBridge's client does (Linux clears it by itself)
                self.s.setsockopt(socket.IPPROTO_TCP, 12, 1)  # TCP_QUICKACK
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    quickack = False

    def recv(self):
        while True:
            self._need(2)
            op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            off = 2
            if n == 126:
                self._need(4); n = struct.unpack(">H", self.buf[2:4])[0]; off = 4
            elif n == 127:
                self._need(10); n = struct.unpack(">Q", self.buf[2:10])[0]; off = 10
            self._need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            if op == 1 or op == 2:
                return json.loads(payload)
            # pings (0.142+ every 30 s) are ignored; the server does not require pongs

    def call(self, method, params):
        self.next_id += 1
        my = self.next_id
        self.send({"jsonrpc": "2.0", "id": my, "method": method, "params": params})
        while True:
            m = self.recv()
            if m.get("id") == my:
                if "error" in m:
                    raise RuntimeError(m["error"])
                return m["result"]


def floor_rounds(ws, pid, keys, quickack):
    ws.quickack = quickack
    out = []
    for i in range(keys):
        ch = chr(ord("a") + i % 26).encode()
        t0 = time.perf_counter()
        ws.send({"jsonrpc": "2.0", "id": 100000 + i, "method": "process/write",
                 "params": {"processId": pid, "chunk": base64.b64encode(ch).decode(), "writeId": f"w{i}-{random.random()}"}})
        while True:
            m = ws.recv()
            if m.get("method") == "process/output" and ch in base64.b64decode(m["params"]["chunk"]):
                out.append(time.perf_counter() - t0)
                break
        if i % 40 == 39:  # end the line so the canonical buffer never fills
            ws.send({"jsonrpc": "2.0", "id": 200000 + i, "method": "process/write",
                     "params": {"processId": pid, "chunk": base64.b64encode(b"\r").decode(), "writeId": f"n{i}-{random.random()}"}})
            drain_until = time.perf_counter() + 0.2
            ws.s.settimeout(0.05)
            try:
                while time.perf_counter() < drain_until:
                    ws.recv()
            except (socket.timeout, BlockingIOError):
                pass
            ws.s.settimeout(None)
    return out


def read_until(fd, needle, timeout):
    got = b""
    deadline = time.perf_counter() + timeout
    while needle not in got:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"pty did not show {needle!r}; last output: {got[-400:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            got += os.read(fd, 65536)
    return got


def shell_rounds(fd, keys):
    out = []
    for i in range(keys):
        ch = chr(ord("a") + i % 26).encode()
        t0 = time.perf_counter()
        os.write(fd, ch)
        read_until(fd, ch, 10)
        out.append(time.perf_counter() - t0)
        if i % 40 == 39:
            os.write(fd, b"\r")
            time.sleep(0.2)
            while select.select([fd], [], [], 0)[0]:
                os.read(fd, 65536)
    return out


def stats(xs):
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[int(len(xs) * 0.9)] * 1000, xs[-1] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codex", default=os.path.join(ROOT, ".peers/0.169.0/package/vendor/x86_64-unknown-linux-musl/bin/codex"))
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()

    home = tempfile.mkdtemp(prefix="eb-latency-")
    server = subprocess.Popen([a.codex, "exec-server", "--listen", "ws://127.0.0.1:0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env={**os.environ, "CODEX_HOME": home})
    uri = server.stdout.readline().decode().strip()
    host, port = uri[len("ws://"):].split(":")
    try:
        ws = Ws(host, int(port))
        ws.call("initialize", {"clientName": "latency-floor"})
        ws.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        for cwd in ("file:///tmp", "/tmp"):  # current dialect first; legacy servers (0.123/0.130) take plain paths
            try:
                ws.call("process/start", {"processId": "floor", "argv": ["/bin/cat"], "cwd": cwd,
                                          "env": {"PATH": "/usr/bin:/bin", "TERM": "xterm"}, "tty": True, "pipeStdin": True})
                break
            except RuntimeError:
                if cwd == "/tmp":
                    raise

        manifest = os.path.join(ROOT, "out", "ExecBridge", "ExecBridge.psd1")
        script = (f"Import-Module '{manifest}'; Connect-ExecBridge -Uri {uri} -ExecutorId lat | Out-Null; "
                  "'SHELL-' + 'READY'; Enter-RemoteShell -Command cat")
        child, fd = pty.fork()
        if child == 0:
            os.chdir(ROOT)
            os.execvp("dotnet", ["dotnet", "pwsh", "-NoLogo", "-NoProfile", "-Command", script])
        read_until(fd, b"SHELL-READY", 120)
        time.sleep(2.0)  # the remote cat is up; drain anything shown meanwhile
        while select.select([fd], [], [], 0)[0]:
            os.read(fd, 65536)

        floor, naive, shell = [], [], []
        for r in range(a.rounds):
            floor += floor_rounds(ws, "floor", a.keys, True)
            shell += shell_rounds(fd, a.keys)
            naive += floor_rounds(ws, "floor", max(10, a.keys // 5), False)
        os.write(fd, b"\r~.")
        read_until(fd, b"Session ended by ~.", 20)
        fm, fp, fx = stats(floor)
        nm, np_, nx = stats(naive)
        sm, sp, sx = stats(shell)
        version = next((p for p in a.codex.split(os.sep) if p.count(".") == 2 and p.replace(".", "").isdigit()), "?")
        print(f"keystroke echo on loopback, codex {version}, "
              f"{a.rounds} alternating rounds x {a.keys} keys per path")
        print(f"floor (bare process/write -> process/output): median {fm:.3f} ms  p90 {fp:.3f} ms  max {fx:.3f} ms")
        print(f"  same floor without TCP_QUICKACK (naive):    median {nm:.3f} ms  p90 {np_:.3f} ms  max {nx:.3f} ms")
        print(f"Enter-RemoteShell (pty keystroke -> echo):    median {sm:.3f} ms  p90 {sp:.3f} ms  max {sx:.3f} ms")
        print(f"ratio of medians: {sm / fm:.2f}x (target <= 2x)")
        try:
            os.kill(child, 9)
        except OSError:
            pass
    finally:
        server.kill()


if __name__ == "__main__":
    main()
