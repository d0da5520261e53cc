"""Shared helpers of the benchmark scripts (not a benchmark itself).

- statistics (median, percentiles, summaries),
- the JSON result file under ``bench/results/``,
- child processes started in their own session, stopped with SIGTERM (SIGKILL as a last
  resort) also on Ctrl-C or when this script gets SIGTERM,
- the environment every process runs in: ``ROS_DOMAIN_ID=57`` (reserved for the benchmarks)
  and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, so nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import pathlib
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Sequence

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / 'results'
DOMAIN_ID = '57'

# Every process of a benchmark (this one included) uses the benchmarks' own ROS domain and
# keeps DDS discovery on this machine.
os.environ['ROS_DOMAIN_ID'] = DOMAIN_ID
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


# -- output --------------------------------------------------------------------------------
_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress line on stderr, with the seconds since the script started."""
    print(f'[{time.monotonic() - _T0:6.1f}s] {msg}', file=sys.stderr, flush=True)


def require_env(*modules: str) -> None:
    """Exit with a hint when the suite's environment is not active."""
    import importlib
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f'{name} ({exc})')
    if missing:
        print('error: cannot import ' + ', '.join(missing) + '\n'
              'hint: from the repository root run `make setup && . scripts/env.sh` first',
              file=sys.stderr)
        raise SystemExit(2)


# -- statistics ----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        return float('nan')
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summary(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, Any]:
    """n, median, p90, p99, min, max, mean of ``values`` multiplied by ``scale``."""
    vs = [v * scale for v in values]
    if not vs:
        return {'n': 0}
    return {
        'n': len(vs),
        'median': round(statistics.median(vs), digits),
        'p90': round(percentile(vs, 90), digits),
        'p99': round(percentile(vs, 99), digits),
        'min': round(min(vs), digits),
        'max': round(max(vs), digits),
        'mean': round(statistics.fmean(vs), digits),
    }


def ratio(a: float, b: float, digits: int = 3) -> float | None:
    """a / b rounded, or None when b is zero or either is not finite."""
    if not b or not math.isfinite(a) or not math.isfinite(b):
        return None
    return round(a / b, digits)


# -- machine / result file -----------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        'cpus': os.cpu_count(),
        'python': platform.python_version(),
        'platform': platform.platform(),
        'rmw': os.environ.get('RMW_IMPLEMENTATION', '(default)'),
        'ros_distro': os.environ.get('ROS_DISTRO', ''),
    }
    try:
        info['loadavg_at_start'] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


class Result:
    """Accumulate a benchmark's JSON result and write it to ``bench/results/<name>.json``."""

    def __init__(self, name: str, quick: bool, params: dict[str, Any]) -> None:
        self.name = name
        self.started = time.monotonic()
        self.data: dict[str, Any] = {
            'benchmark': name,
            'schema': 1,
            'quick': quick,
            'started_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
            'machine': machine_info(),
            'params': params,
            'results': {},
            'headline': [],
            'goal': None,
            'notes': [],
            'status': 'incomplete',
        }

    def headline(self, metric: str, value: Any, unit: str = '') -> None:
        """A figure for the summary table of run_all.py."""
        self.data['headline'].append({'metric': metric, 'value': value, 'unit': unit})

    def goal(self, description: str, passed: bool | None, value: Any = None) -> None:
        self.data['goal'] = {'description': description, 'value': value, 'pass': passed}

    def note(self, text: str) -> None:
        self.data['notes'].append(text)

    def write(self, status: str = 'ok') -> pathlib.Path:
        self.data['status'] = status
        self.data['duration_s'] = round(time.monotonic() - self.started, 1)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f'{self.name}.json'
        tmp = path.with_suffix('.json.tmp')
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False) + '\n')
        tmp.replace(path)
        return path


# -- processes -----------------------------------------------------------------------------
def child_env(**extra: str) -> dict[str, str]:
    """Environment of a child process: this one plus the benchmark domain settings."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = DOMAIN_ID
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


class Proc:
    """A child Python process in its own session, with its output in a log file."""

    def __init__(self, name: str, args: list[str], log_dir: pathlib.Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'wb')
        self.popen = subprocess.Popen([sys.executable, *args], stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env or child_env(), cwd=str(REPO),
                                      start_new_session=True)
        self.exit_code: int | None = None
        self.stop_timeout = 15.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            self._log.flush()
        except ValueError:
            pass
        text = self.log_path.read_text(errors='replace').splitlines()
        return '\n'.join(text[-lines:])

    def terminate(self) -> None:
        """Send SIGTERM to this process only (by its pid)."""
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> int:
        """Wait for the exit; SIGKILL its process group (its own session) after ``timeout``."""
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f'{self.name} (pid {self.pid}) did not exit after SIGTERM: SIGKILL')
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(10)
        try:
            self._log.close()
        except ValueError:
            pass
        self.exit_code = int(self.popen.returncode)
        return self.exit_code


class ProcessGroup:
    """Processes to stop (SIGTERM, in reverse start order) when the benchmark ends.

    Use as a context manager. While it is open, SIGTERM to this script raises
    KeyboardInterrupt, so Ctrl-C and ``kill`` both run the cleanup.
    """

    def __init__(self, log_dir: pathlib.Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        self.stops: list[dict[str, dict[str, Any]]] = []
        self._old_handler: Any = None
        self._old_int: Any = None

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None,
              stop_timeout: float = 15.0) -> Proc:
        """Start a child; at the end it gets SIGTERM and ``stop_timeout`` s to exit."""
        p = Proc(name, args, self.log_dir, env)
        p.stop_timeout = stop_timeout
        self.procs.append(p)
        log(f'started {name} (pid {p.pid}): {" ".join(args[:6])}{" ..." if len(args) > 6 else ""}')
        return p

    def check_alive(self) -> None:
        """Raise RuntimeError (with the log tail) when a child exited early."""
        for p in self.procs:
            if not p.alive():
                raise RuntimeError(f'{p.name} exited early with code {p.popen.returncode}; '
                                   f'last lines of {p.log_path}:\n{p.tail()}')

    def stop_all(self) -> dict[str, dict[str, Any]]:
        """SIGTERM every child, then wait for each (SIGKILL after its stop_timeout).
        Returns {name: {'exit': code, 'seconds': time to exit}}."""
        out: dict[str, dict[str, Any]] = {}
        t0 = time.monotonic()
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            code = p.wait(max(0.1, p.stop_timeout - (time.monotonic() - t0)))
            out[p.name] = {'exit': code, 'seconds': round(time.monotonic() - t0, 2)}
            if code not in (0, -signal.SIGKILL):
                out[p.name]['log_tail'] = p.tail(12)
        if self.procs:
            log('stopped ' + ', '.join(f'{n} (exit {v["exit"]}, {v["seconds"]:.1f} s)'
                                       for n, v in out.items()))
            self.stops.append(out)
        self.procs = []
        return out

    def __enter__(self) -> 'ProcessGroup':
        # Our own handlers (also for SIGINT): asyncio.run then leaves SIGINT alone instead of
        # cancelling its main task, and the KeyboardInterrupt ends the run wherever it is.
        def on_signal(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt(f'signal {signum}')
        self._old_handler = signal.signal(signal.SIGTERM, on_signal)
        self._old_int = signal.signal(signal.SIGINT, on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        # A second Ctrl-C during the cleanup must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGINT, self._old_int or signal.default_int_handler)
            signal.signal(signal.SIGTERM, self._old_handler or signal.SIG_DFL)


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.25, group: ProcessGroup | None = None,
               describe: Callable[[], Any] | None = None) -> Any:
    """Poll ``condition`` until it returns something truthy; RuntimeError after ``timeout``
    (naming ``describe()`` as the last state when given)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        if group is not None:
            group.check_alive()
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            if describe is not None:
                last = describe()
            raise RuntimeError(f'timed out after {timeout:g} s waiting for {what} '
                               f'(last: {last!r})')
        time.sleep(interval)


def http_json(method: str, url: str, body: Any = None, token: str | None = None,
              timeout: float = 5.0) -> tuple[int, Any]:
    """Blocking HTTP request (setup and checks only, never timed): (status, JSON or text)."""
    import urllib.error
    import urllib.request
    data = None
    headers = {}
    if token:
        headers['Authorization'] = f'Bearer {token}'
    if body is not None:
        data = json.dumps(body).encode()
        headers['Content-Type'] = 'application/json'
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except (OSError, ValueError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors='replace')


def domain_nodes(wait: float = 1.5) -> list[str]:
    """Names of the ROS nodes already visible on the benchmark domain (runs in a child
    process so that this one never holds an rclpy context)."""
    code = ('import sys, time, rclpy\n'
            'from rclpy.context import Context\n'
            'ctx = Context(); rclpy.init(context=ctx)\n'
            'n = rclpy.create_node("bench_probe", context=ctx)\n'
            f'time.sleep({wait})\n'
            'names = sorted(ns.rstrip("/") + "/" + nm for nm, ns in '
            'n.get_node_names_and_namespaces() if nm != "bench_probe")\n'
            'print("\\n".join(names))\n'
            'n.destroy_node(); rclpy.try_shutdown(context=ctx)\n')
    try:
        out = subprocess.run([sys.executable, '-c', code], env=child_env(), cwd=str(REPO),
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return []
    return [ln for ln in out.stdout.splitlines() if ln.strip()]


def require_empty_domain(allow: bool = False) -> None:
    """Refuse to run when other nodes use the benchmark domain (a second fleet manager
    would answer half of the service calls and dispatch to the same robots)."""
    nodes = domain_nodes()
    if not nodes:
        return
    shown = ', '.join(nodes[:8]) + (' ...' if len(nodes) > 8 else '')
    msg = (f'ROS_DOMAIN_ID={DOMAIN_ID} is not empty: {len(nodes)} node(s) already running '
           f'({shown}); stop them first')
    if allow:
        log(f'warning: {msg}')
        return
    raise RuntimeError(msg + ' (or pass --allow-foreign-nodes)')


def unexpected_nodes(expected: Callable[[str], bool]) -> list[str]:
    """Nodes on the benchmark domain that the benchmark did not start (names for which
    ``expected`` is False, and second copies of any name). Call while the processes run."""
    nodes = domain_nodes(2.0)
    seen: set[str] = set()
    out = []
    for name in nodes:
        if not expected(name) or name in seen:
            out.append(name)
        seen.add(name)
    return out


def write_web_config(path: pathlib.Path) -> pathlib.Path:
    """A bridge config (config/web.yaml format) that does not throttle the benchmark:
    no extra API keys (FLEET_TOKEN is the admin key), a rate limit far above what the
    load generator can reach, no webhooks."""
    path.write_text('# written by bench/: no throttling, no webhooks\n'
                    'api_keys: []\n'
                    'rate_limit:\n  per_second: 1000000\n  burst: 1000000\n'
                    'webhooks: []\n')
    return path


def stop_notes(stops: list[dict[str, dict[str, Any]]]) -> list[str]:
    """Notes about children that needed SIGKILL or exited non-zero after SIGTERM."""
    notes = []
    for i, stop in enumerate(stops):
        for name, v in stop.items():
            where = f'{name}' + (f' (stack {i + 1})' if len(stops) > 1 else '')
            if v['exit'] == -signal.SIGKILL:
                notes.append(f'{where} needed SIGKILL ({v["seconds"]} s after SIGTERM)')
            elif v['exit'] != 0:
                last = [ln for ln in v.get('log_tail', '').splitlines() if ln.strip()]
                notes.append(f'{where} exited with code {v["exit"]} after SIGTERM'
                             + (f': {last[-1].strip()[:200]}' if last else ''))
    return notes


def fmt(v: Any, unit: str = '') -> str:
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        s = f'{v:.3g}' if abs(v) < 100 else f'{v:.0f}'
    else:
        s = str(v)
    return f'{s} {unit}'.strip()


def chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    """``items`` in ``n`` nearly equal consecutive slices."""
    k, r = divmod(len(items), n)
    start = 0
    for i in range(n):
        end = start + k + (1 if i < r else 0)
        if end > start:
            yield items[start:end]
        start = end


def run_stack(res: 'Result', workdir: pathlib.Path, allow_foreign_nodes: bool,
              body: Callable[['ProcessGroup'], Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``body(group)`` with a ProcessGroup in ``workdir`` and stop every process after.

    Returns (what body returned, the processes' stop records). On Ctrl-C or an error the
    result is written with that status and SystemExit is raised (130, or 1 with the reason
    and where the logs were kept).
    """
    try:
        require_empty_domain(allow_foreign_nodes)
        with ProcessGroup(workdir) as group:
            try:
                out = body(group)
            finally:
                group.stop_all()
        return out, group.stops
    except KeyboardInterrupt:
        res.note('interrupted')
        res.write('interrupted')
        print('interrupted; processes stopped', file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - report why the benchmark could not run
        res.note(f'error: {exc}')
        res.data['results'] = {'error': str(exc), 'workdir': str(workdir)}
        path = res.write('error')
        print(f'error: {exc}\n(logs kept in {workdir}; result {path})', file=sys.stderr)
        raise SystemExit(1) from None
