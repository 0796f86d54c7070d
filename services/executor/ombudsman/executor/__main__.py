"""`python -m ombudsman.executor` starts the service; `python -m ombudsman.executor worker` a worker."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "worker":
    from ombudsman.executor.worker import main
else:
    from ombudsman.executor.app import main

main()
