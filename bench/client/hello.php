<?php
// bench/client.mjs: the small script every contender runs (12 bytes of text).
header('Content-Type: text/plain');
echo "hello world\n";
