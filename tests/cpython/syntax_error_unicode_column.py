greeting = "héllo wörld ✓"
value = greeting + )
