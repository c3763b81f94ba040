module github.com/golibmc/libmemcached/bench

go 1.26

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c
	github.com/golibmc/libmemcached v0.0.0
)

replace github.com/golibmc/libmemcached => ../
