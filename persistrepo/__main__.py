from persistrepo.cli import run

run()
