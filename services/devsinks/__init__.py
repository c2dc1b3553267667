"""Local stand-ins for the outside world, for `waspada up` and the tests: a real SMTP server
(aiosmtpd) and a Twilio-compatible Messages API that the real twilio SDK talks to. Both keep
what they receive under the given folder and can be told to fail, to exercise retries."""
