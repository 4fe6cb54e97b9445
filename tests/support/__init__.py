"""What the tests build on: beds of real tools, package forges, the mirrors
of programs that cannot run here (yum 3.4.3, imgbased)."""
