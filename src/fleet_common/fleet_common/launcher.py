"""Stop a node's process when the ``ros2 launch`` that started it exits (Linux).

``ros2 launch`` stops its processes on Ctrl-C (SIGINT). On SIGTERM it exits at once and
leaves them running (upstream launch's behaviour, launch 3.4: "using SIGTERM can result in
orphaned processes"). The project's launch files give each process the variable
:data:`ENV`, set to the launch process's pid. A process whose parent is that pid asks the
kernel to send it SIGTERM when the parent exits (``prctl(PR_SET_PDEATHSIG)``), so it stops
through the same clean path as on a SIGTERM of its own. Anything the process starts itself
has another parent and is left alone; without the variable (``ros2 run``, a service
manager, the tests) nothing changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Mapping

ENV = 'FLEET_STOP_WITH_PID'
"""Environment variable naming the pid of the launch process (set by fleet_bringup)."""

PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""


def stop_with_launcher(environ: Mapping[str, str] = os.environ) -> bool:
    """Have this process receive SIGTERM when its launcher exits; True when arranged.

    Call it once the process handles SIGTERM: if the launcher is already gone by the time
    the request took effect, the process sends itself SIGTERM at once.
    """
    value = environ.get(ENV, '')
    if not value.isdigit() or not sys.platform.startswith('linux'):
        return False
    launcher = int(value)
    if os.getppid() != launcher:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    if os.getppid() != launcher:
        os.kill(os.getpid(), signal.SIGTERM)
    return True
