"""A tiny HTTP server with range requests (GDAL's /vsicurl/ needs them), for tests only.

    python tests/range_server.py FOLDER [SECONDS [FAILS]]

Serves FOLDER on 127.0.0.1 at a free port, prints "port N", and stops by itself
after SECONDS (default 300). The first FAILS requests (default 0) are answered
"503 Service Unavailable", as a busy server answers.
"""
import http.server
import sys
import threading

LOCK = threading.Lock()


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    fails = [0]  # requests still to be refused, shared by the handlers

    def _data(self):
        with LOCK:
            busy, self.fails[0] = self.fails[0] > 0, self.fails[0] - 1
        if busy:
            self.send_error(503)
            return None
        try:
            with open(self.translate_path(self.path), "rb") as f:
                return f.read()
        except OSError:
            self.send_error(404)
            return None

    def do_GET(self):
        data = self._data()
        if data is None:
            return
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes="):
            first, _, last = spec[6:].partition("-")
            first, last = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            data = data[first : last + 1]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self):
        data = self._data()
        if data is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    folder, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
    RangeHandler.fails[0] = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             lambda *a, **k: RangeHandler(*a, directory=folder, **k))
    threading.Timer(seconds, server.shutdown).start()
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
