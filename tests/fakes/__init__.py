"""Local fakes of the services PolicyKit talks to (tests and benches only; they bind 127.0.0.1)."""
