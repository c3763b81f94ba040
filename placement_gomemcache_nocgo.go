//go:build !cgo

package libmemcached

// Stand-ins for the thin layer's gomemcache-placement calls in a build
// without cgo (see nocgo.go): no client is ever made to call them on.

func (cMaster) setGomemcachePlacement() ReturnCode { return ReturnNotSupported }
func (cMaster) hasGomemcacheHash() bool            { return false }
func (*cHandle) hasGomemcacheHash() bool           { return false }
func gomemcacheHash(string) uint32                 { return 0 }
