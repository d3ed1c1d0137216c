"""Gunicorn settings of orderdock-web.service (docs/deploy.md): the web server behind nginx.

Started as ``gunicorn -c deploy/gunicorn.conf.py 'webapp:create_app()'`` from the code's
folder; a command-line option wins over a setting here (the tests bind another port). The
ORDERDOCK_WEB_* variables (in /etc/orderdock/orderdock.env) size it without editing this file.
"""
import os

# nginx proxies to this address; nothing else should reach it (R-SEC-3 counts the addresses
# nginx forwards, which only TRUSTED_PROXIES=1 believes).
bind = os.environ.get("ORDERDOCK_WEB_BIND", "127.0.0.1:8000")
# Threads: a page mostly waits for the database. 2 processes x 4 threads serve an office of a
# few dozen people; add a process per 2 CPU cores beyond that.
workers = int(os.environ.get("ORDERDOCK_WEB_WORKERS", "2"))
threads = int(os.environ.get("ORDERDOCK_WEB_THREADS", "4"))
worker_class = "gthread"
# Seconds before a stuck request's process is replaced; nginx waits a little longer (65 s).
timeout = 60
# SIGTERM (systemctl stop/restart) lets requests under way finish for this long.
graceful_timeout = 20
keepalive = 5
# A process is replaced after this many requests (with jitter, not all at once), so that memory
# a long run gathered is given back.
max_requests = 2000
max_requests_jitter = 200
proc_name = "orderdock-web"
# Heartbeat files in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm"
# No runtime control socket: systemctl is the control (gunicorn >= 25 opens one by default).
control_socket_disable = True

# Both logs on stdout/stderr: systemd's journal keeps them (journalctl -u orderdock-web).
accesslog = "-"
errorlog = "-"
loglevel = "info"
# The webhook token in /hooks/<token>/<platform> never reaches a log (webapp/gunicorn_logging.py).
logger_class = "webapp.gunicorn_logging.HookTokenLogger"
# The client as nginx forwards it (ProxyFix, TRUSTED_PROXIES=1, puts it in REMOTE_ADDR), the
# request, status, size, time in ms, and the referrer/agent.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'
