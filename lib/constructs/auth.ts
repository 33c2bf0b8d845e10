import { Aws, CfnOutput, Duration, Fn, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { OPERATORS_GROUP } from '../../shared/auth/tokens';

/** Where `npm run oncall -- login` listens for the managed login redirect (bin/oncall-login.ts). */
export const CLI_LOGIN_PORT = 8976;
export const CLI_CALLBACK_URL = `http://localhost:${CLI_LOGIN_PORT}/callback`;

export interface AuthProps {
  readonly removalPolicy: RemovalPolicy;
  readonly stage: string;
  /** Created in the operators group at deploy (Cognito emails a temporary password). */
  readonly firstOperatorEmail?: string;
  /** The managed login domain prefix; default `webhooks-<stage>-<8 hex of the stack id>`. */
  readonly domainPrefix?: string;
  /** Also allow USER_PASSWORD_AUTH on the dashboard client (config `auth.allowPasswordAuth`; off). */
  readonly allowPasswordAuth?: boolean;
}

/**
 * Operator and dashboard identities: an admin-managed Cognito user pool (no self sign-up, strong
 * passwords, TOTP MFA required) with the `operators` group the API checks, and Cognito's managed
 * login (authorization code with PKCE) for one public client shared by the dashboard page and the
 * on-call CLI. Tokens are verified by the functions against the pool's JWKS.
 */
export class Auth extends Construct {
  public readonly userPool: cognito.UserPool;
  public readonly client: cognito.UserPoolClient;
  public readonly operators: cognito.CfnUserPoolGroup;
  public readonly domain: cognito.UserPoolDomain;
  /** `https://<prefix>.auth.<region>.amazoncognito.com`: managed login and the OAuth endpoints. */
  public readonly signInUrl: string;
  /** The `iss` claim of the pool's tokens. */
  public readonly issuerUrl: string;
  public readonly jwksUrl: string;
  private readonly pageUrls: string[] = [];

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      // Plus adds threat protection (compromised credentials, adaptive authentication) to the pool
      // that guards operator access; it is billed per monthly active user, a handful here.
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    });
    this.operators = new cognito.CfnUserPoolGroup(this, 'Operators', {
      userPoolId: this.userPool.userPoolId,
      groupName: OPERATORS_GROUP,
      description: 'On-call operators: DLQ redrive, alert rules, every tenant in the dashboard',
    });

    // Managed login pages of their own for the first sign-in too: the temporary password is
    // changed and the TOTP authenticator enrolled there (MFA stays required).
    const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: {
        // Unique across every account in the region: the stack id's first 8 hex digits.
        domainPrefix:
          props.domainPrefix ??
          `webhooks-${props.stage.toLowerCase()}-${Fn.select(0, Fn.split('-', stackUuid))}`,
      },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    this.signInUrl = this.domain.baseUrl();

    const redirects = Lazy.list({ produce: () => [...this.pageUrls, CLI_CALLBACK_URL] });
    this.client = this.userPool.addClient('DashboardClient', {
      generateSecret: false,
      // SRP only: USER_PASSWORD_AUTH hands Cognito the password itself, and nothing here needs it
      // unless configured (auth.allowPasswordAuth).
      authFlows: { userSrp: true, userPassword: props.allowPasswordAuth === true },
      preventUserExistenceErrors: true,
      // The authorization code flow with PKCE (public client: no secret); the page and the CLI
      // redirect back with the code and exchange it at the token endpoint.
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: redirects,
        logoutUrls: redirects,
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      // An on-call shift: the CLI and the page renew their ID token silently for this long.
      refreshTokenValidity: Duration.hours(12),
    });
    // Managed login (version 2) serves a client only once it has a style: Cognito's own one.
    new cognito.CfnManagedLoginBranding(this, 'LoginStyle', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.client.userPoolClientId,
      useCognitoProvidedValues: true,
    });

    if (props.firstOperatorEmail) {
      const user = new cognito.CfnUserPoolUser(this, 'FirstOperator', {
        userPoolId: this.userPool.userPoolId,
        username: props.firstOperatorEmail,
        userAttributes: [
          { name: 'email', value: props.firstOperatorEmail },
          { name: 'email_verified', value: 'true' },
        ],
        desiredDeliveryMediums: ['EMAIL'],
      });
      const membership = new cognito.CfnUserPoolUserToGroupAttachment(this, 'FirstOperatorIsOperator', {
        userPoolId: this.userPool.userPoolId,
        groupName: OPERATORS_GROUP,
        username: props.firstOperatorEmail,
      });
      membership.addDependency(user);
      membership.addDependency(this.operators);
    }

    this.issuerUrl = `https://cognito-idp.${Stack.of(this).region}.amazonaws.com/${this.userPool.userPoolId}`;
    this.jwksUrl = `${this.issuerUrl}/.well-known/jwks.json`;

    // For whoever has no firstOperatorEmail: the two AWS CLI calls that make an operator.
    new CfnOutput(Stack.of(this), 'CreateOperatorCommand', {
      description: 'Creates an operator (replace you@example.com); Cognito emails a temporary password',
      value: [
        `aws cognito-idp admin-create-user --region ${Stack.of(this).region} --user-pool-id ${this.userPool.userPoolId} --username you@example.com --user-attributes Name=email,Value=you@example.com Name=email_verified,Value=true`,
        `aws cognito-idp admin-add-user-to-group --region ${Stack.of(this).region} --user-pool-id ${this.userPool.userPoolId} --username you@example.com --group-name ${OPERATORS_GROUP}`,
      ].join(' && '),
    });
  }

  /** The dashboard page's address (`https://…/`): managed login may redirect back to it. */
  allowPage(url: string): void {
    this.pageUrls.push(url);
  }

  /** The audience the functions expect in tokens: the dashboard client id. */
  get audience(): string {
    return this.client.userPoolClientId;
  }
}
