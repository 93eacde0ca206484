# Packaging: the version every program prints, what `make install` adds beyond the
# programs and man pages (systemd units, sysusers/tmpfiles files, bash completion,
# the example config), and `make deb` / `make rpm`, built from a copy of the tree
# into $(BUILD)/packages/ so the source tree stays clean.

# One version for every program (--version), the .deb and the .rpm: the VERSION file.
FDM_VERSION := $(shell cat VERSION)
CFLAGS += -DFDM_VERSION='"$(FDM_VERSION)"'
VERSIONED_OBJS := $(OBJ)/fdm/main.o $(OBJ)/fdm/fdmctl.o $(OBJ)/datastore/fdm_inspect.o \
                  $(OBJ)/hostd-shim/main.o $(OBJ)/hostd-shim/cli.o
$(VERSIONED_OBJS): VERSION

# Where `make install` puts things. Under the default PREFIX=/usr/local every
# directory is one that systemd and bash-completion search; the Debian and RPM
# builds set PREFIX=/usr and UNITDIR to their distribution's place.
SYSCONFDIR    ?= /etc
UNITDIR       ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR   ?= $(PREFIX)/lib/tmpfiles.d
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR        ?= $(PREFIX)/share/doc/fdm

UNITS := packaging/systemd/fdm.service packaging/systemd/hostd-shim.service

# A prerequisite of the Makefile's install target. The units name /usr/sbin; under
# another PREFIX they are rewritten to name $(PREFIX)/sbin. An existing
# $(SYSCONFDIR)/fdm/fdm.conf is never overwritten (the packages own theirs as a
# conffile, installed here into an empty DESTDIR).
install-packaging: build-all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/hostd-shim-cli $(DESTDIR)$(PREFIX)/bin/hostd-shim-cli
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed 's|/usr/sbin/|$(PREFIX)/sbin/|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	install -D -m 0644 packaging/sysusers.d/fdm.conf $(DESTDIR)$(SYSUSERSDIR)/fdm.conf
	install -D -m 0644 packaging/tmpfiles.d/fdm.conf $(DESTDIR)$(TMPFILESDIR)/fdm.conf
	install -D -m 0644 packaging/bash-completion/fdmctl $(DESTDIR)$(COMPLETIONDIR)/fdmctl
	install -D -m 0644 packaging/fdm.conf.example $(DESTDIR)$(DOCDIR)/fdm.conf.example
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/fdm
	[ -e $(DESTDIR)$(SYSCONFDIR)/fdm/fdm.conf ] || \
		install -m 0644 packaging/fdm.conf.example $(DESTDIR)$(SYSCONFDIR)/fdm/fdm.conf

install: install-packaging

# ------------------------------------------------------------------ packages
# Both build from a copy of the tree without build output or VCS data, in
# $(PKG_WORK); the packages themselves land in $(PKG_OUT).
PKG_OUT  := $(BUILD)/packages
PKG_WORK := $(PKG_OUT)/work
PKG_NAME := fdm-$(FDM_VERSION)

# The package builds run from a clean environment, as a build daemon's would:
# make exports its command line (BUILD=, PREFIX=, CFLAGS=...) and MAKEFLAGS to
# its children, and the build inside the copy must not see them.
PKG_ENV = env -i PATH="$$PATH" HOME="$$HOME" LANG=C.UTF-8 \
	$${SOURCE_DATE_EPOCH:+SOURCE_DATE_EPOCH=$$SOURCE_DATE_EPOCH}

# Copy the source tree: everything but build directories (build/, build-*/, the
# current $(BUILD)) and .git.
define copy_tree
	rm -rf $(1) && mkdir -p $(1)
	tar -C . --exclude-vcs --exclude='./build' --exclude='./build-*' \
		--exclude='./$(BUILD)' --exclude='*.o' --exclude='__pycache__' -cf - . | tar -C $(1) -xf -
endef

# dpkg-buildpackage -b: binary packages fdm and fdm-hostd-shim. The changelog is
# written here so that VERSION stays the only place the version is kept.
# DEB_BUILD_OPTIONS=nocheck skips the unit tests the build runs.
deb:
	$(call copy_tree,$(PKG_WORK)/deb/$(PKG_NAME))
	cp -r packaging/debian $(PKG_WORK)/deb/$(PKG_NAME)/debian
	packaging/debian-changelog $(FDM_VERSION) > $(PKG_WORK)/deb/$(PKG_NAME)/debian/changelog
	cd $(PKG_WORK)/deb/$(PKG_NAME) && \
		$(PKG_ENV) DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -us -uc
	mkdir -p $(PKG_OUT)
	rm -f $(PKG_OUT)/*.deb
	mv $(PKG_WORK)/deb/*.deb $(PKG_OUT)/
	@ls -l $(PKG_OUT)/*.deb

# rpmbuild -bb with its own _topdir. --nodeps: rpm's database on a Debian host
# knows none of the BuildRequires, which dpkg provides here. RPMBUILD_FLAGS=
# --nocheck skips the unit tests the build runs (%check).
RPM_TOP = $(abspath $(PKG_WORK)/rpm)
RPMBUILD_FLAGS ?=
rpm:
	rm -rf $(RPM_TOP) && mkdir -p $(RPM_TOP)/SOURCES $(RPM_TOP)/SPECS
	$(call copy_tree,$(RPM_TOP)/tar/$(PKG_NAME))
	tar -C $(RPM_TOP)/tar -czf $(RPM_TOP)/SOURCES/$(PKG_NAME).tar.gz $(PKG_NAME)
	rm -rf $(RPM_TOP)/tar
	$(PKG_ENV) rpmbuild -bb --nodeps $(RPMBUILD_FLAGS) --define '_topdir $(RPM_TOP)' \
		--define 'fdm_version $(FDM_VERSION)' packaging/rpm/fdm.spec
	mkdir -p $(PKG_OUT)
	rm -f $(PKG_OUT)/*.rpm
	mv $(RPM_TOP)/RPMS/*/*.rpm $(PKG_OUT)/
	@ls -l $(PKG_OUT)/*.rpm

.PHONY: install-packaging deb rpm

# The packages are installed, checked and purged by tests/packaging/ (needs root).
SYSTEM_TESTS += tests/packaging/test_packages.sh
