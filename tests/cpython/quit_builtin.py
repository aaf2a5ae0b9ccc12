print("quitting")
quit()
print("never")
