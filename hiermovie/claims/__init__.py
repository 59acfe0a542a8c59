"""`hiermovie claims` / `make claims`: the paper's claims measured on the measuring-size benchmark."""
