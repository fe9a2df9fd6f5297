package rcu

// Collide does what a reader's failed compare-and-swap on the base pair
// does: it gives d its processor table, so that readers count on shards.
func Collide(d *Domain) { d.collide() }

// TableLen returns the number of processor slots of d's table, 0 if none.
func TableLen(d *Domain) int {
	if t := d.table.Load(); t != nil {
		return len(t.slots)
	}
	return 0
}

// HurryFor is how long a grace period keeps the hurry flag up at most.
const HurryFor = hurryFor

// SetHookBetweenSums sets the test hook of sums; nil removes it.
func SetHookBetweenSums(f func(mask uint32)) { testHookBetweenSums = f }

// SetHanded sets the turn of NextShard.
func SetHanded(d *Domain, v uint32) { d.handed = v }

// SetHookHurry sets the hurry flag's test hook; nil removes it.
func SetHookHurry(f func(up bool)) { testHookHurry = f }
