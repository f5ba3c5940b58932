"""jiaoying's benchmark: the real service against a Twilio stand-in, every figure compared
with a bare-client baseline measured in the same run (`make bench`, `python -m bench`)."""
